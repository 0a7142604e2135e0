#!/usr/bin/env bash
# Lay out UPLOAD_ROOT so that the service owns everything in it and nginx can read only the
# finished objects (storage/ and .long/): never the database, the signing keys or secrets.
#
# Usage: deploy/data-dir.sh --upload-root DIR --owner USER --files-group GROUP
#
#   DIR           USER:GROUP 0710  nginx (GROUP) may pass through but not list. What the app
#                                  creates here itself (metadata.sqlite, -wal, -shm) gets
#                                  USER's own group, so nginx cannot read it.
#   DIR/storage   USER:GROUP 2750  setgid: everything created beneath gets GROUP; with the
#   DIR/.long     USER:GROUP 2750  unit's UMask=0027 files are 0640 and directories 2750,
#                                  which nginx's workers (GROUP) read for X-Accel-Redirect.
#   DIR/.tmp      USER:GROUP 2700  files are written here and renamed into storage/ or .long/;
#   DIR/.parts    USER:GROUP 2700  a rename keeps the group, so they must get GROUP when
#                                  created. 0700: nginx cannot enter (uploads in progress).
#   DIR/keys      USER:USER  0700  JWT signing keys (AUTH_KEYS_DIR default)
#   DIR/secrets   USER:USER  0700  generated secrets
#
# GROUP is nginx's worker group (www-data on Debian), so no user's group memberships change.
# The app must never recreate these directories (it only creates what is missing), or the
# setgid bit and the group are lost.
#
# Idempotent: on an existing root (an update) it repairs ownership and modes, including key
# files an earlier root-run CLI left behind. Must run as root.
set -euo pipefail

die() {
  echo "data-dir.sh: $*" >&2
  exit 2
}

upload_root=""
owner=""
files_group=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --upload-root) [[ $# -ge 2 ]] || die "$1 needs a value"; upload_root="$2"; shift 2 ;;
    --owner) [[ $# -ge 2 ]] || die "$1 needs a value"; owner="$2"; shift 2 ;;
    --files-group) [[ $# -ge 2 ]] || die "$1 needs a value"; files_group="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$upload_root" == /* ]] || die "--upload-root must be an absolute path"
while [[ "$upload_root" == */ && "$upload_root" != / ]]; do upload_root="${upload_root%/}"; done
[[ "$upload_root" != / ]] || die "--upload-root must not be /"
getent passwd "$owner" >/dev/null || die "no such user: $owner"
getent group "$files_group" >/dev/null || die "no such group: $files_group"
owner_group="$(id -gn "$owner")"
[[ "$owner_group" != "$files_group" ]] \
  || die "--files-group must not be $owner's own group: nginx could then read the database"

# Ownership and exact modes below a directory, touching only what differs (a large storage/
# keeps its ctimes on a re-run). Regular files and directories only: chmod follows symlinks.
# Five-digit modes: GNU chmod clears a directory's setgid bit only when told explicitly.
fix_tree() { # dir group dir-mode file-mode
  local dir="$1" group="$2" dmode="$3" fmode="$4"
  find "$dir" ! -group "$group" -exec chgrp -h "$group" {} +
  find "$dir" ! -user "$owner" -exec chown -h "$owner" {} +
  find "$dir" -mindepth 1 -type d ! -perm "$dmode" -exec chmod "$dmode" {} +
  find "$dir" -type f ! -perm "$fmode" -exec chmod "$fmode" {} +
}

install -d -o "$owner" -g "$files_group" "$upload_root"
chmod 00710 "$upload_root"

# Finished objects: nginx's group reads them.
for d in storage .long; do
  install -d -o "$owner" -g "$files_group" "$upload_root/$d"
  fix_tree "$upload_root/$d" "$files_group" 02750 00640
  chmod 02750 "$upload_root/$d"
done

# Work in progress: the group is inherited for the rename, but nginx cannot enter.
for d in .tmp .parts; do
  install -d -o "$owner" -g "$files_group" "$upload_root/$d"
  fix_tree "$upload_root/$d" "$files_group" 02750 00640
  chmod 02700 "$upload_root/$d"
done

for d in keys secrets; do
  install -d -o "$owner" -g "$owner_group" "$upload_root/$d"
  fix_tree "$upload_root/$d" "$owner_group" 00700 00600
  chmod 00700 "$upload_root/$d"
done

# Anything else at the top (the SQLite database and its -wal/-shm): the service's own group.
find "$upload_root" -mindepth 1 -maxdepth 1 ! -type l \
  ! -name storage ! -name .long ! -name .tmp ! -name .parts ! -name keys ! -name secrets \
  -exec chown -hR "$owner:$owner_group" {} + -exec chmod -R o-rwx {} +

# nginx must be able to reach the root: warn about a parent it cannot pass through.
p="$(dirname "$upload_root")"
while [[ "$p" != / ]]; do
  if ! find "$p" -maxdepth 0 -perm -0001 | grep -q .; then
    echo "data-dir.sh: warning: $p is not searchable by others; nginx ($files_group) may not reach $upload_root" >&2
  fi
  p="$(dirname "$p")"
done

echo "laid out $upload_root: owner $owner; nginx ($files_group) reads storage/ and .long/ only"
