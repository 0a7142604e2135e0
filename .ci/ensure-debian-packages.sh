#!/usr/bin/env bash
# Installs the named Debian packages that are missing (as root, or through sudo); shared by
# .ci/run (what the tests need), `npm run bench` (what the benchmark compares against) and
# start-s3.sh / start-postgres.sh (their servers' packages, when run on their own).
set -euo pipefail
need=()
for pkg in "$@"; do
  # Installed and configured; a package left unpacked by an interrupted install counts as missing.
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A configuration file already on disk (Swift's swift.conf, written by start-s3.sh on a machine
# where the package was once removed) is kept, never asked about: there is no one to answer.
keep=(-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
$sudo dpkg --force-confdef --force-confold --configure -a
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${keep[@]}" "${need[@]}"
