#!/usr/bin/env bash
# start-s3.sh — a real S3-compatible server (OpenStack Swift + s3api, Debian packages)
# on 127.0.0.1, for CI and the test setup (test/global-setup.ts). Run as root. Idempotent: a
# second run finds it up and only prints the variables. Stop with: start-s3.sh stop (stops only
# the processes it started, and removes $S3_DIR).
#
# Ports (all on 127.0.0.1): S3 endpoint $S3_PORT, object/container/account servers
# $S3_PORT+1..+3, memcached $S3_PORT+4.  Default 5690..5694: inside the 5600–5699 range open on
# our CI machines, and clear of the test PostgreSQL cluster's 5610–5689.
# S3 credentials: access key test:tester, secret testing, region us-east-1, path style.
set -euo pipefail

S3_DIR=${S3_DIR:-/tmp/ci-s3}            # everything (config, rings, data, logs, pids) lives here
S3_PORT=${S3_PORT:-5690}
S3_BUCKET=${S3_BUCKET-sl-test}          # created at start ("" = create none)
S3_PROXY_WORKERS=${S3_PROXY_WORKERS:-2} # proxy processes; 2 suits a 2-core machine
OBJ_PORT=$((S3_PORT + 1)); CONT_PORT=$((S3_PORT + 2)); ACCT_PORT=$((S3_PORT + 3)); MC_PORT=$((S3_PORT + 4))
ENDPOINT="http://127.0.0.1:${S3_PORT}"
PIDS="$S3_DIR/pids"

print_env() {
  cat <<EOF
export S3_ENDPOINT=${ENDPOINT}
export S3_REGION=us-east-1
export S3_BUCKET=${S3_BUCKET}
export S3_ACCESS_KEY_ID=test:tester
export S3_SECRET_ACCESS_KEY=testing
export S3_FORCE_PATH_STYLE=true
EOF
}

# true if PID $1 is still the process this script started (its command line names our config dir or port)
ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE -- "$S3_DIR/etc/|memcached .*-p $MC_PORT "; }

stop_all() {
  local f pid
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 50); do ours "$pid" || break; sleep 0.1; done
    if ours "$pid"; then  # still there: swift servers lead their own process group (they setsid)
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

if [ "${1:-}" = stop ]; then
  stop_all
  rm -rf "$S3_DIR"
  echo "s3: stopped, $S3_DIR removed" >&2
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "start-s3.sh: run as root" >&2; exit 1; }

healthy() { curl -fsS -m 2 "$ENDPOINT/healthcheck" 2>/dev/null | grep -qx OK; }

# Already running (started by this script)?  Then only print the variables.
if [ -s "$PIDS/proxy.pid" ] && ours "$(cat "$PIDS/proxy.pid")" && healthy; then
  print_env
  exit 0
fi
stop_all  # leftovers of a half-started run, if any
for p in "$S3_PORT" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" "$MC_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "s3: 127.0.0.1:$p is already in use (this script needs S3_PORT..S3_PORT+4)" >&2; exit 1
  fi
done

# 1. Packages (≈40 s on a fresh machine; skipped when present)
if ! command -v swift-proxy-server >/dev/null || ! command -v swift-object-server >/dev/null \
   || ! command -v swift-container-server >/dev/null || ! command -v swift-account-server >/dev/null \
   || ! command -v memcached >/dev/null || ! command -v curl >/dev/null; then
  bash "$(dirname "${BASH_SOURCE[0]}")/ensure-debian-packages.sh" \
    swift swift-proxy swift-object swift-container swift-account memcached curl >/dev/null
fi

# 2. Swift always reads /etc/swift/swift.conf (the package ships a usable one); write it if absent.
if ! grep -qs '^\[storage-policy:0\]' /etc/swift/swift.conf; then
  mkdir -p /etc/swift
  cat >/etc/swift/swift.conf <<'EOF'
[swift-hash]
swift_hash_path_suffix = ci-suffix
swift_hash_path_prefix = ci-prefix
[storage-policy:0]
name = Policy-0
default = yes
EOF
fi

# 3. Config, one-replica rings, data dir
rm -rf "$S3_DIR"
mkdir -p "$S3_DIR/etc" "$S3_DIR/srv/d1" "$S3_DIR/log" "$PIDS"
cd "$S3_DIR/etc"
# One device, one replica, 2^8 partitions; same as `swift-ring-builder X.builder create 8 1 1;
# ... add r1z1-127.0.0.1:PORT/d1 1; ... rebalance` for each ring, but one Python start instead of nine.
/usr/bin/python3 - "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" <<'PY'
import sys
from swift.common.ring import RingBuilder
for name, port in zip(("object", "container", "account"), map(int, sys.argv[1:])):
    b = RingBuilder(8, 1, 1)
    b.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save(name + ".ring.gz")
PY
for kind in object:$OBJ_PORT container:$CONT_PORT account:$ACCT_PORT; do
  name=${kind%%:*}; port=${kind##*:}
  cat >"$name-server.conf" <<EOF
[DEFAULT]
devices = $S3_DIR/srv
mount_check = false
disable_fallocate = true
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = root
swift_dir = $S3_DIR/etc
log_name = s3-$name

[pipeline:main]
pipeline = healthcheck $name-server

[app:$name-server]
use = egg:swift#$name
# wait for the container/account listing update inside the PUT/DELETE instead of leaving it to
# an updater daemon that is not running here: listings are then current as soon as the call returns
node_timeout = 30
container_update_timeout = 30

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
done
cat >proxy-server.conf <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $S3_PORT
workers = $S3_PROXY_WORKERS
user = root
swift_dir = $S3_DIR/etc
log_name = s3-proxy

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# AWS allows 10000 parts (Swift's default is 1000); SLO below must allow as many segments
max_upload_part_num = 10000

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000
# don't throttle GETs of objects made of many small (< 1 MiB) parts to 1 part/s after the 10th
rate_limit_segments_per_sec = 0
[filter:dlo]
use = egg:swift#dlo
EOF

# 4. Start.  Each swift server setsid()s itself; -v sends its log to our file (there is no syslog).
memcached -u root -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 >"$S3_DIR/log/memcached.log" 2>&1 &
echo $! >"$PIDS/memcached.pid"
for name in account container object proxy; do
  "swift-$name-server" "$S3_DIR/etc/$name-server.conf" -v >"$S3_DIR/log/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
done

# 5. Wait until the whole chain works: proxy health, then a tempauth token and a container PUT
#    (= S3 bucket), which needs the account, container and object rings and servers.
token=""
for _ in $(seq 150); do   # ≤ 30 s
  for p in "$PIDS"/*.pid; do
    ours "$(cat "$p")" || { echo "s3: $(basename "$p" .pid) died; log:" >&2; tail -20 "$S3_DIR/log/$(basename "$p" .pid).log" >&2; exit 1; }
  done
  if healthy; then
    token=$(curl -fsS -m 5 -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
      "$ENDPOINT/auth/v1.0" 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}') || true
    if [ -n "$token" ] && curl -fsS -m 5 -o /dev/null -X PUT -H "X-Auth-Token: $token" \
         "$ENDPOINT/v1/AUTH_test/${S3_BUCKET:-ci-readiness-probe}" 2>/dev/null; then
      [ -n "$S3_BUCKET" ] || curl -fsS -m 5 -o /dev/null -X DELETE -H "X-Auth-Token: $token" "$ENDPOINT/v1/AUTH_test/ci-readiness-probe"
      print_env
      exit 0
    fi
  fi
  sleep 0.2
done
echo "s3: not ready after 30 s; logs in $S3_DIR/log" >&2
tail -n 20 "$S3_DIR"/log/*.log >&2
exit 1
