#!/usr/bin/env bash
# Installs the Debian packages the benchmark compares against or drives load with, when missing:
# nginx (the reference server and the X-Accel-Redirect front), wrk (load), zip (the ZIP
# reference), curl (the download/upload client). Needs root or sudo only when something is missing.
set -euo pipefail
need=()
for pkg in nginx wrk zip curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "bench: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
