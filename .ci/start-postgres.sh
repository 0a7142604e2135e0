#!/usr/bin/env bash
# start-postgres.sh — a throwaway PostgreSQL cluster (Debian's packages) on 127.0.0.1:$PG_PORT,
# data in $PG_DIR, for CI. Run as root (the server itself runs as the `postgres` user via runuser).
# Idempotent: a second run finds it up and only prints the variables.  Stop: start-postgres.sh stop
# (removes the data); halt / resume stop and restart the server keeping its data.
set -euo pipefail

PG_DIR=${PG_DIR:-/tmp/ci-pg}
PG_PORT=${PG_PORT:-5632}
PG_USER=${PG_USER:-app}
PG_PASSWORD=${PG_PASSWORD:-app}
PG_DB=${PG_DB:-app}
DATA="$PG_DIR/data"; SOCK="$PG_DIR/run"; LOG="$PG_DIR/postgres.log"

pgbin() { local d; for d in /usr/lib/postgresql/*/bin; do if [ -x "$d/initdb" ]; then echo "$d"; fi; done | sort -V | tail -n 1; }
as_pg() { runuser -u postgres -- "$@"; }
print_env() {
  cat <<EOF
export DATABASE_URL=postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}
EOF
}

# halt / resume: stop the server keeping its data, and start it again (outage tests).
if [ "${1:-}" = halt ] || [ "${1:-}" = resume ]; then
  BIN=$(pgbin)
  if [ "$1" = halt ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null
  else
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  fi
  exit 0
fi

if [ "${1:-}" = stop ]; then
  BIN=$(pgbin)
  if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  echo "postgres: stopped, $PG_DIR removed" >&2
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "start-postgres.sh: run as root" >&2; exit 1; }

# 1. Packages (already on this image; ≈30-60 s when missing)
if [ -z "$(pgbin)" ] || ! id postgres >/dev/null 2>&1; then
  bash "$(dirname "${BASH_SOURCE[0]}")/ensure-debian-packages.sh" postgresql >/dev/null
fi
BIN=$(pgbin)

# 2. Already running (started by this script)?  Then only print the variables.
if [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 \
   && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  print_env
  exit 0
fi
if [ -f "$DATA/postmaster.pid" ]; then  # half-started leftovers
  as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
fi

if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then
  echo "postgres: 127.0.0.1:$PG_PORT is already in use" >&2; exit 1
fi

# 3. New cluster.  trust on the unix socket (in $SOCK) for setup; scram-sha-256 over TCP.
rm -rf "$PG_DIR"
mkdir -p "$PG_DIR" "$SOCK"
chown -R postgres:postgres "$PG_DIR"
as_pg test -w "$PG_DIR" || { echo "postgres: user postgres cannot reach $PG_DIR (a parent dir is private); use a PG_DIR under /tmp" >&2; exit 1; }
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK'
max_connections = 200
# throwaway cluster: durability off, speed on
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

# 4. Start and wait (pg_ctl -w returns once the server accepts connections)
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
  || { tail -n 30 "$LOG" >&2; exit 1; }

# 5. Role and database
as_pg "$BIN/psql" -h "$SOCK" -p "$PG_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
  -v u="$PG_USER" -v p="$PG_PASSWORD" -v d="$PG_DB" >/dev/null <<'SQL'
CREATE ROLE :"u" LOGIN PASSWORD :'p' CREATEDB;
CREATE DATABASE :"d" OWNER :"u";
SQL
"$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
print_env
