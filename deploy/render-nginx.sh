#!/usr/bin/env bash
# Render deploy/nginx-file-server.conf to stdout.
#
# Every value comes from a flag, else from an environment variable, else a default:
#   flag               env var              default
#   --server-name      SERVER_NAME          (required)
#   --upstream         UPSTREAM             ${BIND_HOST:-127.0.0.1}:${PORT:-5070}
#   --upload-root      UPLOAD_ROOT          /data/uploads
#   --max-body-mb      MAX_BODY_MB          5120
#   --tls-cert         TLS_CERT             /etc/letsencrypt/live/<server-name>/fullchain.pem
#   --tls-key          TLS_KEY              /etc/letsencrypt/live/<server-name>/privkey.pem
#   --listen-https     LISTEN_HTTPS         443
#   --listen-http      LISTEN_HTTP          80
#   --accel-prefix     ACCEL_REDIRECT_PREFIX /_protected/
#   --acme-root        ACME_ROOT            /var/www/letsencrypt
#   --aio-threads      AIO_THREADS          off   (on|off; "on" needs nginx --with-threads)
#   --access-log       ACCESS_LOG           /var/log/nginx/upload-server.access.log
#   --max-conn-per-address MAX_CONNECTIONS_PER_ADDRESS 256 (0: no per-address cap in nginx)
#   --stage            STAGE                full  (full: the site; acme: HTTP-only first stage
#                                                 that serves certbot's webroot, no TLS needed)
#   --template         NGINX_TEMPLATE       <dir of this script>/nginx-file-server.conf
#                                           (nginx-acme-stage.conf for --stage acme)
#
# Example:
#   deploy/render-nginx.sh --server-name files.example.com > /etc/nginx/sites-available/upload-server.conf
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'
}

die() {
  echo "render-nginx.sh: $*" >&2
  exit 2
}

server_name="${SERVER_NAME:-}"
upstream="${UPSTREAM:-}"
upload_root="${UPLOAD_ROOT:-/data/uploads}"
max_body_mb="${MAX_BODY_MB:-5120}"
tls_cert="${TLS_CERT:-}"
tls_key="${TLS_KEY:-}"
listen_https="${LISTEN_HTTPS:-443}"
listen_http="${LISTEN_HTTP:-80}"
accel_prefix="${ACCEL_REDIRECT_PREFIX:-/_protected/}"
acme_root="${ACME_ROOT:-/var/www/letsencrypt}"
aio_threads="${AIO_THREADS:-off}"
access_log="${ACCESS_LOG:-/var/log/nginx/upload-server.access.log}"
max_conn="${MAX_CONNECTIONS_PER_ADDRESS:-256}"
stage="${STAGE:-full}"
template="${NGINX_TEMPLATE:-}"

need_arg() {
  [[ $# -ge 2 ]] || die "option $1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --server-name) need_arg "$@"; server_name="$2"; shift 2 ;;
    --upstream) need_arg "$@"; upstream="$2"; shift 2 ;;
    --upload-root) need_arg "$@"; upload_root="$2"; shift 2 ;;
    --max-body-mb) need_arg "$@"; max_body_mb="$2"; shift 2 ;;
    --tls-cert) need_arg "$@"; tls_cert="$2"; shift 2 ;;
    --tls-key) need_arg "$@"; tls_key="$2"; shift 2 ;;
    --listen-https) need_arg "$@"; listen_https="$2"; shift 2 ;;
    --listen-http) need_arg "$@"; listen_http="$2"; shift 2 ;;
    --accel-prefix) need_arg "$@"; accel_prefix="$2"; shift 2 ;;
    --acme-root) need_arg "$@"; acme_root="$2"; shift 2 ;;
    --aio-threads) need_arg "$@"; aio_threads="$2"; shift 2 ;;
    --access-log) need_arg "$@"; access_log="$2"; shift 2 ;;
    --max-conn-per-address) need_arg "$@"; max_conn="$2"; shift 2 ;;
    --stage) need_arg "$@"; stage="$2"; shift 2 ;;
    --template) need_arg "$@"; template="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# ---- defaults that depend on other values ---------------------------------
[[ -n "$server_name" ]] || die "--server-name (or SERVER_NAME) is required"
case "$stage" in
  full) [[ -n "$template" ]] || template="$SCRIPT_DIR/nginx-file-server.conf" ;;
  acme) [[ -n "$template" ]] || template="$SCRIPT_DIR/nginx-acme-stage.conf" ;;
  *) die "--stage must be full or acme, got: $stage" ;;
esac

if [[ -z "$upstream" ]]; then
  host="${BIND_HOST:-127.0.0.1}"
  # A wildcard bind address is not something to connect to.
  case "$host" in
    0.0.0.0) host=127.0.0.1 ;;
    ::|"[::]") host="[::1]" ;;
    *:*) [[ "$host" == \[* ]] || host="[$host]" ;; # bare IPv6 literal
  esac
  upstream="$host:${PORT:-5070}"
fi

first_name="${server_name%% *}"
[[ -n "$tls_cert" ]] || tls_cert="/etc/letsencrypt/live/$first_name/fullchain.pem"
[[ -n "$tls_key" ]] || tls_key="/etc/letsencrypt/live/$first_name/privkey.pem"

# ---- validation: values are pasted into nginx syntax ------------------------
for pair in "server-name=$server_name" "upstream=$upstream" "upload-root=$upload_root" \
  "tls-cert=$tls_cert" "tls-key=$tls_key" "listen-https=$listen_https" \
  "listen-http=$listen_http" "accel-prefix=$accel_prefix" "acme-root=$acme_root" \
  "access-log=$access_log"; do
  name="${pair%%=*}"
  value="${pair#*=}"
  [[ -n "$value" ]] || die "--$name must not be empty"
  if [[ "$value" == *[\;\{\}\#\"\'\$\\]* || "$value" == *$'\n'* ]]; then
    die "--$name contains a character not allowed in the nginx config: $value"
  fi
done
for pair in "upstream=$upstream" "upload-root=$upload_root" "tls-cert=$tls_cert" \
  "tls-key=$tls_key" "accel-prefix=$accel_prefix" "acme-root=$acme_root" "access-log=$access_log"; do
  [[ "${pair#*=}" != *[[:space:]]* ]] || die "--${pair%%=*} must not contain whitespace"
done

[[ "$max_body_mb" =~ ^[1-9][0-9]*$ ]] || die "--max-body-mb must be a positive integer (MiB), got: $max_body_mb"
[[ "$upload_root" == /* ]] || die "--upload-root must be an absolute path, got: $upload_root"
# Strip trailing slashes; the template adds exactly one after the alias.
while [[ "$upload_root" == */ && "$upload_root" != / ]]; do upload_root="${upload_root%/}"; done
[[ "$upload_root" != / ]] || die "--upload-root must not be /"
# The app's own rule for ACCEL_REDIRECT_PREFIX; it is also pasted into a regex location.
[[ "$accel_prefix" =~ ^/[A-Za-z0-9_/-]*/$ && "$accel_prefix" != / ]] \
  || die "--accel-prefix must start and end with '/' and hold only [A-Za-z0-9_/-], e.g. /_protected/, got: $accel_prefix"
[[ "$acme_root" == /* ]] || die "--acme-root must be an absolute path"
[[ "$access_log" == /* ]] || die "--access-log must be an absolute path"
[[ "$max_conn" =~ ^(0|[1-9][0-9]{0,6})$ ]] || die "--max-conn-per-address must be a whole number (0: no cap), got: $max_conn"
if [[ "$max_conn" == 0 ]]; then limit_conn_marker="# "; else limit_conn_marker=""; fi

case "$aio_threads" in
  on|yes|true|1) aio_marker="" ;;
  off|no|false|0) aio_marker="# " ;;
  *) die "--aio-threads must be on or off, got: $aio_threads" ;;
esac

# Public TLS port for the http->https redirect: last ":<digits>" of the first
# word of the listen value (443, 8443, 127.0.0.1:8443, [::]:443 ...).
listen_word="${listen_https%% *}"
https_port="${listen_word##*:}"
[[ "$https_port" =~ ^[0-9]+$ ]] || die "--listen-https must contain a port, got: $listen_https"
if [[ "$https_port" == 443 ]]; then https_port_suffix=""; else https_port_suffix=":$https_port"; fi

[[ -r "$template" ]] || die "template not readable: $template"

# Escape a value for the replacement side of sed s|...|...|.
esc() {
  printf '%s' "$1" | sed -e 's/[&|\\]/\\&/g'
}

out="$(
  sed \
    -e "s|__SERVER_NAME__|$(esc "$server_name")|g" \
    -e "s|__UPSTREAM__|$(esc "$upstream")|g" \
    -e "s|__UPLOAD_ROOT__|$(esc "$upload_root")|g" \
    -e "s|__MAX_BODY_MB__|$(esc "$max_body_mb")|g" \
    -e "s|__TLS_CERT__|$(esc "$tls_cert")|g" \
    -e "s|__TLS_KEY__|$(esc "$tls_key")|g" \
    -e "s|__LISTEN_HTTPS__|$(esc "$listen_https")|g" \
    -e "s|__LISTEN_HTTP__|$(esc "$listen_http")|g" \
    -e "s|__HTTPS_PORT_SUFFIX__|$(esc "$https_port_suffix")|g" \
    -e "s|__ACCEL_PREFIX__|$(esc "$accel_prefix")|g" \
    -e "s|__ACME_ROOT__|$(esc "$acme_root")|g" \
    -e "s|#__AIO_THREADS__|$(esc "$aio_marker")|g" \
    -e "s|__ACCESS_LOG__|$(esc "$access_log")|g" \
    -e "s|#__LIMIT_CONN__|$(esc "$limit_conn_marker")|g" \
    -e "s|__MAX_CONN_PER_ADDRESS__|$(esc "$max_conn")|g" \
    -e '/^# --- template-doc-begin/,/^# --- template-doc-end/d' \
    "$template"
)"

# A placeholder left over means the template and this script disagree.
if leftover="$(printf '%s\n' "$out" | grep -oE '__[A-Z0-9_]+__' | sort -u)" \
  && [[ -n "$leftover" ]]; then
  die "unrendered placeholder(s) in template: $(echo $leftover)"
fi

printf '%s\n' "$out"
