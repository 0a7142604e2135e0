#!/usr/bin/env bash
# Create the service's env file with fresh secrets, or complete an existing one.
#
# Usage: deploy/env-file.sh --template FILE --env-file FILE --upload-root DIR --server-name NAME
#
# Absent: created from the template, mode 0600 root:root (systemd reads it as root), with
#   UPLOAD_ROOT, PUBLIC_BASE_URL=https://NAME and freshly generated AUTH_SERVICE_TOKEN,
#   UPLOAD_SIGNING_KEY and ADMIN_PASSWORD.
# Present: never rewritten, except that a missing or empty ADMIN_PASSWORD is generated into it
#   (an env file from an older deploy.sh created no admin at all).
# Each time a password is generated it says where it is (never the password itself), so the
# note appears exactly once. Must run as root.
set -euo pipefail

die() {
  echo "env-file.sh: $*" >&2
  exit 2
}

template=""
env_file=""
upload_root=""
server_name=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --template) [[ $# -ge 2 ]] || die "$1 needs a value"; template="$2"; shift 2 ;;
    --env-file) [[ $# -ge 2 ]] || die "$1 needs a value"; env_file="$2"; shift 2 ;;
    --upload-root) [[ $# -ge 2 ]] || die "$1 needs a value"; upload_root="$2"; shift 2 ;;
    --server-name) [[ $# -ge 2 ]] || die "$1 needs a value"; server_name="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n "$env_file" && -n "$upload_root" && -n "$server_name" ]] \
  || die "--env-file, --upload-root and --server-name are required"
# Values are pasted into sed replacements and KEY=value lines.
[[ "$server_name" =~ ^[A-Za-z0-9._*-]+( [A-Za-z0-9._*-]+)*$ ]] || die "bad --server-name: $server_name"
[[ "$upload_root" == /* && "$upload_root" != *[[:space:]]* && "$upload_root" != *[\;\|\&\$\'\"\\]* ]] \
  || die "bad --upload-root (absolute, no whitespace or shell/sed metacharacters): $upload_root"

# Last KEY=value of the file (one pair of surrounding quotes stripped); empty if absent.
env_get() {
  local v
  v="$(sed -n "s/^[[:space:]]*$1=//p" "$2" | tail -n 1)"
  v="${v%\"}"; v="${v#\"}"; v="${v%\'}"; v="${v#\'}"
  printf '%s' "$v"
}

# Set KEY=value, replacing every existing line of KEY or appending one.
env_set() {
  if grep -q "^$1=" "$3"; then
    sed -i "s|^$1=.*|$1=$2|" "$3"
  else
    printf '%s=%s\n' "$1" "$2" >>"$3"
  fi
}

# 24 random bytes, base64url: 32 characters that neither sed nor a dotenv parser mangles.
new_admin_password() {
  openssl rand -base64 24 | tr '+/' '-_' | tr -d '=\n'
}

admin_password_note() {
  local user
  user="$(env_get ADMIN_USERNAME "$env_file")"
  echo "admin: a password for user '${user:-admin}' was generated into $env_file (ADMIN_PASSWORD)."
  echo "       Read it with: sudo grep '^ADMIN_PASSWORD=' $env_file"
  echo "       The server creates that user at its next start unless a user of that name exists."
}

if [[ ! -e "$env_file" ]]; then
  [[ -r "$template" ]] || die "template not readable: $template"
  umask 077
  tmp="$(mktemp "$(dirname "$env_file")/.upload.env.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  sed -e "s|__SERVER_NAME__|${server_name%% *}|g" -e "s|__UPLOAD_ROOT__|$upload_root|g" "$template" >"$tmp"
  env_set UPLOAD_ROOT "$upload_root" "$tmp"
  env_set PUBLIC_BASE_URL "https://${server_name%% *}" "$tmp"
  env_set AUTH_SERVICE_TOKEN "$(openssl rand -hex 32)" "$tmp"
  env_set UPLOAD_SIGNING_KEY "$(openssl rand -hex 32)" "$tmp"
  env_set ADMIN_PASSWORD "$(new_admin_password)" "$tmp"
  chown root:root "$tmp"
  chmod 0600 "$tmp"
  # A hard link fails if the file appeared meanwhile: an existing env file is never replaced.
  ln "$tmp" "$env_file" || die "$env_file appeared meanwhile; left unchanged"
  echo "created $env_file (0600) with newly generated secrets"
  admin_password_note
  exit 0
fi

echo "$env_file exists; keeping its values (never overwritten)"
if [[ -z "$(env_get ADMIN_PASSWORD "$env_file")" ]]; then
  env_set ADMIN_PASSWORD "$(new_admin_password)" "$env_file"
  chown root:root "$env_file"
  chmod 0600 "$env_file"
  admin_password_note
fi
