#!/usr/bin/env bash
# Deploy the Stream-Line upload server on a Debian/Ubuntu host (systemd + nginx).
#
# Usage: sudo deploy/deploy.sh --server-name files.example.com [options]
#
# Options:
#   --server-name NAME   public host name for nginx and PUBLIC_BASE_URL (required)
#   --upload-root DIR    data directory, the app's UPLOAD_ROOT (default /data/uploads)
#   --tls-cert FILE      TLS certificate chain (default /etc/letsencrypt/live/NAME/fullchain.pem)
#   --tls-key FILE       TLS private key      (default /etc/letsencrypt/live/NAME/privkey.pem)
#   --max-body-mb N      nginx client_max_body_size (default: MAX_BODY_MB from the env file, else 5120)
#   --nginx-user USER    nginx's worker user (default: `user` in /etc/nginx/nginx.conf, else www-data)
#   --email ADDR         contact address for certbot (default: register without one)
#   --no-certbot         never run certbot; a missing certificate is an error
#   --skip-nginx         do everything except the nginx steps
#   --dry-run            print every step instead of running it; changes nothing
#   -h, --help           show this help
#
# Idempotent: safe to run again for an update. It copies this repository to
# /opt/upload-server, builds it there, (re)installs the systemd unit, the admin
# command /usr/local/bin/stream-line-admin and the nginx site, and restarts the
# service. /etc/stream-line/upload.env is created (with fresh secrets) only when
# it does not exist; otherwise only a missing ADMIN_PASSWORD is added to it.
# Without a certificate (default Let's Encrypt paths) it first installs an
# HTTP-only site serving the ACME webroot, runs certbot, then the TLS site.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"

SERVICE_USER=uploadsvc
SERVICE_NAME=upload-server
APP_DIR=/opt/upload-server
CONF_DIR=/etc/stream-line
ENV_FILE="$CONF_DIR/upload.env"
UNIT_SRC="$SCRIPT_DIR/upload-server.service"
UNIT_DEST="/etc/systemd/system/$SERVICE_NAME.service"
ADMIN_SRC="$SCRIPT_DIR/stream-line-admin"
ADMIN_DEST=/usr/local/bin/stream-line-admin
NGINX_AVAILABLE="/etc/nginx/sites-available/$SERVICE_NAME.conf"
NGINX_ENABLED="/etc/nginx/sites-enabled/$SERVICE_NAME.conf"
ACME_ROOT=/var/www/letsencrypt

server_name=""
upload_root=/data/uploads
tls_cert=""
tls_key=""
max_body_mb=""
nginx_user=""
certbot_email=""
no_certbot=0
skip_nginx=0
DRY_RUN=0

usage() {
  sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

warn() {
  echo "deploy.sh: warning: $*" >&2
}

need_arg() {
  [[ $# -ge 2 && -n "$2" ]] || { echo "deploy.sh: option $1 needs a value" >&2; exit 2; }
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --server-name) need_arg "$@"; server_name="$2"; shift 2 ;;
    --server-name=*) server_name="${1#*=}"; shift ;;
    --upload-root) need_arg "$@"; upload_root="$2"; shift 2 ;;
    --upload-root=*) upload_root="${1#*=}"; shift ;;
    --tls-cert) need_arg "$@"; tls_cert="$2"; shift 2 ;;
    --tls-key) need_arg "$@"; tls_key="$2"; shift 2 ;;
    --max-body-mb) need_arg "$@"; max_body_mb="$2"; shift 2 ;;
    --nginx-user) need_arg "$@"; nginx_user="$2"; shift 2 ;;
    --email) need_arg "$@"; certbot_email="$2"; shift 2 ;;
    --no-certbot) no_certbot=1; shift ;;
    --skip-nginx) skip_nginx=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

[[ -n "$server_name" ]] || { echo "deploy.sh: --server-name is required (see --help)" >&2; exit 2; }
[[ "$server_name" =~ ^[A-Za-z0-9._*-]+( [A-Za-z0-9._*-]+)*$ ]] \
  || die "--server-name must be host name(s) separated by single spaces: $server_name"
[[ "$upload_root" == /* ]] || die "--upload-root must be an absolute path: $upload_root"
while [[ "$upload_root" == */ && "$upload_root" != / ]]; do upload_root="${upload_root%/}"; done
[[ "$upload_root" != / ]] || die "--upload-root must not be /"
if [[ "$upload_root" == *[[:space:]]* || "$upload_root" == *[\;\|\&\$\'\"\\]* ]]; then
  die "--upload-root must not contain whitespace or shell/sed metacharacters: $upload_root"
fi
first_name="${server_name%% *}"
# certbot may obtain the certificate only for its own default paths.
tls_default=0
[[ -z "$tls_cert" && -z "$tls_key" ]] && tls_default=1
[[ -n "$tls_cert" ]] || tls_cert="/etc/letsencrypt/live/$first_name/fullchain.pem"
[[ -n "$tls_key" ]] || tls_key="/etc/letsencrypt/live/$first_name/privkey.pem"
[[ -z "$certbot_email" || "$certbot_email" =~ ^[^[:space:]@]+@[^[:space:]@]+$ ]] || die "--email is not an address: $certbot_email"

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
quote_cmd() {
  local out=() a
  for a in "$@"; do out+=("$(printf '%q' "$a")"); done
  printf '%s' "${out[*]}"
}

# Run a command, or in --dry-run mode print it.
run() {
  if (( DRY_RUN )); then
    printf '[dry-run] %s\n' "$(quote_cmd "$@")"
  else
    printf '+ %s\n' "$(quote_cmd "$@")"
    "$@"
  fi
}

# Same for a shell command line (pipes, &&); printed as written.
run_sh() {
  if (( DRY_RUN )); then
    printf '[dry-run] %s\n' "$1"
  else
    printf '+ %s\n' "$1"
    bash -c "$1"
  fi
}

# Print a description of a step that is not a single command (dry-run only).
would() {
  printf '[dry-run] %s\n' "$*"
}

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n==> [%d] %s\n' "$step_no" "$*"
}

have() { command -v "$1" >/dev/null 2>&1; }

# Last KEY=value of a dotenv-style file (quotes stripped); empty if absent/unreadable.
env_get() {
  local key="$1" file="$2" v
  [[ -r "$file" ]] || return 0
  v="$(sed -n "s/^[[:space:]]*$key=//p" "$file" 2>/dev/null | tail -n 1)"
  v="${v%\"}"; v="${v#\"}"; v="${v%\'}"; v="${v#\'}"
  printf '%s' "$v"
}

TMP_FILES=()
cleanup() {
  local f
  for f in "${TMP_FILES[@]+"${TMP_FILES[@]}"}"; do rm -f -- "$f"; done
}
trap cleanup EXIT
mktemp_tracked() {
  local f
  f="$(mktemp)"
  TMP_FILES+=("$f")
  printf '%s' "$f"
}

# ---------------------------------------------------------------------------
# preflight
# ---------------------------------------------------------------------------
step "preflight checks"
if (( DRY_RUN )); then
  echo "dry run: nothing will be changed"
elif [[ $EUID -ne 0 ]]; then
  die "must run as root (or use --dry-run)"
fi

for cmd in node npm openssl systemctl install sed; do
  if ! have "$cmd"; then
    if (( DRY_RUN )); then warn "'$cmd' not found (required for a real run)"; else die "'$cmd' not found"; fi
  fi
done
if (( ! skip_nginx )) && ! have nginx && [[ ! -x /usr/sbin/nginx ]]; then
  if (( DRY_RUN )); then warn "nginx not found (apt-get install nginx)"; else die "nginx not found (apt-get install nginx) or use --skip-nginx"; fi
fi
if have node; then
  node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if (( node_major < 20 )); then
    if (( DRY_RUN )); then warn "node >= 20 required, found $(node -v)"; else die "node >= 20 required, found $(node -v)"; fi
  fi
fi

# The unit runs /usr/bin/node (Debian/NodeSource); adapt it if node lives elsewhere.
node_bin=/usr/bin/node
if [[ ! -x "$node_bin" ]] && have node; then
  node_bin="$(command -v node)"
  warn "/usr/bin/node not found; the unit will use $node_bin"
fi

env_template="$SCRIPT_DIR/upload.env.template"
[[ -r "$env_template" ]] || env_template="$REPO_DIR/upload.env.template"
[[ -r "$env_template" ]] || die "no upload.env.template found in $SCRIPT_DIR or $REPO_DIR"

# Values nginx must agree on with the app: take them from the env file (if it
# exists already) or from the template that will become it.
cfg_src="$env_template"
[[ -r "$ENV_FILE" ]] && cfg_src="$ENV_FILE"
if [[ -z "$max_body_mb" ]]; then
  max_body_mb="$(env_get MAX_BODY_MB "$cfg_src")"
  [[ "$max_body_mb" =~ ^[0-9]+$ ]] || max_body_mb=5120
fi
accel_prefix="$(env_get ACCEL_REDIRECT_PREFIX "$cfg_src")"
[[ -n "$accel_prefix" ]] || accel_prefix=/_protected/
max_conn_per_address="$(env_get MAX_CONNECTIONS_PER_ADDRESS "$cfg_src")"
[[ "$max_conn_per_address" =~ ^[0-9]+$ ]] || max_conn_per_address=256
app_port="$(env_get PORT "$cfg_src")"
[[ "$app_port" =~ ^[0-9]+$ ]] || app_port=5070
app_host="$(env_get BIND_HOST "$cfg_src")"
case "$app_host" in
  ""|0.0.0.0|localhost) app_host=127.0.0.1 ;;
  ::|"[::]") app_host="[::1]" ;;
esac
upstream="$app_host:$app_port"

if [[ -e "$ENV_FILE" && -r "$ENV_FILE" ]]; then
  existing_root="$(env_get UPLOAD_ROOT "$ENV_FILE")"
  if [[ -n "$existing_root" && "${existing_root%/}" != "$upload_root" ]]; then
    warn "$ENV_FILE has UPLOAD_ROOT=$existing_root but --upload-root is $upload_root; the env file is not changed"
  fi
fi

# Render the nginx site now: bad options fail before anything is changed.
# Extra arguments (--stage acme) go to render-nginx.sh.
render_nginx() {
  bash "$SCRIPT_DIR/render-nginx.sh" \
    --server-name "$server_name" \
    --upstream "$upstream" \
    --upload-root "$upload_root" \
    --max-body-mb "$max_body_mb" \
    --max-conn-per-address "$max_conn_per_address" \
    --tls-cert "$tls_cert" \
    --tls-key "$tls_key" \
    --accel-prefix "$accel_prefix" \
    --acme-root "$ACME_ROOT" \
    "$@"
}
if (( ! skip_nginx )); then
  render_nginx >/dev/null || die "rendering the nginx config failed"
fi

# nginx's workers read the files for X-Accel-Redirect through their group (data-dir.sh).
if [[ -z "$nginx_user" ]]; then
  nginx_user="$(sed -n 's/^[[:space:]]*user[[:space:]]\{1,\}\([^[:space:];]\{1,\}\).*/\1/p' /etc/nginx/nginx.conf 2>/dev/null | head -n 1)"
  [[ -n "$nginx_user" ]] || nginx_user=www-data
fi
files_group=""
if getent passwd "$nginx_user" >/dev/null 2>&1; then
  # `user www-data www-data;` names the group; otherwise it is the user's primary group.
  files_group="$(sed -n 's/^[[:space:]]*user[[:space:]]\{1,\}[^[:space:];]\{1,\}[[:space:]]\{1,\}\([^[:space:];]\{1,\}\).*/\1/p' /etc/nginx/nginx.conf 2>/dev/null | head -n 1)"
  [[ -n "$files_group" ]] || files_group="$(id -gn "$nginx_user")"
elif (( skip_nginx )); then
  # No nginx here: a group of its own with no members, so nobody else reads the files.
  files_group="$SERVICE_USER-files"
elif (( DRY_RUN )); then
  warn "nginx user $nginx_user does not exist (yet); assuming group www-data"
  files_group=www-data
else
  die "nginx user $nginx_user does not exist; pass --nginx-user"
fi

echo "server name:  $server_name"
echo "upload root:  $upload_root"
echo "app dir:      $APP_DIR"
echo "upstream:     $upstream"
echo "max body:     ${max_body_mb} MiB"
echo "nginx reads:  $upload_root/storage as group $files_group"

# ---------------------------------------------------------------------------
# 1. service user
# ---------------------------------------------------------------------------
step "system user $SERVICE_USER"
nologin=/usr/sbin/nologin
[[ -x "$nologin" ]] || nologin=/sbin/nologin
if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
  echo "user $SERVICE_USER exists; skipping useradd"
else
  run useradd --system --user-group --home-dir "$APP_DIR" --no-create-home \
    --shell "$nologin" --comment "Stream-Line upload server" "$SERVICE_USER"
fi

# ---------------------------------------------------------------------------
# 2. directories
# ---------------------------------------------------------------------------
step "directories"
# Code: owned by root, readable (not writable) by the service.
run install -d -m 0750 -o root -g "$SERVICE_USER" "$APP_DIR"
# Data: the only place the service may write (ReadWritePaths=). nginx's group may read the
# finished files (storage/, .long/) and nothing else: not the database, keys or secrets.
if [[ "$files_group" == "$SERVICE_USER-files" ]] && ! getent group "$files_group" >/dev/null 2>&1; then
  run groupadd --system "$files_group"
fi
run bash "$SCRIPT_DIR/data-dir.sh" --upload-root "$upload_root" --owner "$SERVICE_USER" --files-group "$files_group"
run install -d -m 0750 -o root -g "$SERVICE_USER" "$CONF_DIR"

# ---------------------------------------------------------------------------
# 3. copy the code
# ---------------------------------------------------------------------------
step "copy $REPO_DIR -> $APP_DIR"
if [[ "$(readlink -f "$REPO_DIR")" == "$(readlink -f "$APP_DIR" 2>/dev/null || echo "$APP_DIR")" ]]; then
  echo "running from $APP_DIR itself; nothing to copy"
elif have rsync; then
  # Excluded paths are also protected from --delete on the receiving side.
  run rsync -a --delete \
    --exclude=/.git --exclude=/node_modules --exclude=/dist --exclude=/data \
    --exclude=/coverage --exclude='*.log' --exclude=upload.env --exclude=.env \
    "$REPO_DIR/" "$APP_DIR/"
else
  # No rsync: tar pipe with the same excludes (files deleted upstream are not removed).
  copy_cmd="tar -C $(printf '%q' "$REPO_DIR") --exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./data --exclude=./coverage --exclude='*.log' --exclude=upload.env --exclude=.env -cf - . | tar -C $(printf '%q' "$APP_DIR") -xf -"
  run_sh "$copy_cmd"
fi

# ---------------------------------------------------------------------------
# 4. install dependencies and build
# ---------------------------------------------------------------------------
step "npm ci && npm run build in $APP_DIR"
# Built as root, then handed to the service read-only (root:uploadsvc, no o+rwx):
# a compromised service cannot modify its own code.
run_sh "cd $(printf '%q' "$APP_DIR") && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund"
run chown -R "root:$SERVICE_USER" "$APP_DIR"
run chmod -R u=rwX,g=rX,o= "$APP_DIR"

# ---------------------------------------------------------------------------
# 4b. the admin command
# ---------------------------------------------------------------------------
step "admin command $ADMIN_DEST"
# `npm run cli` needs the dev dependencies deploy.sh just pruned, and as root it would leave
# root-owned key files; the wrapper runs dist/cli.js as $SERVICE_USER with the env file.
admin_sed=(-e "s|^APP_DIR=.*|APP_DIR=$APP_DIR|" -e "s|^ENV_FILE=.*|ENV_FILE=$ENV_FILE|"
  -e "s|^SERVICE_USER=.*|SERVICE_USER=$SERVICE_USER|" -e "s|^NODE_BIN=.*|NODE_BIN=$node_bin|")
if (( DRY_RUN )); then
  would "install $ADMIN_SRC -> $ADMIN_DEST (mode 0755; APP_DIR=$APP_DIR ENV_FILE=$ENV_FILE SERVICE_USER=$SERVICE_USER NODE_BIN=$node_bin)"
else
  tmp_admin="$(mktemp_tracked)"
  sed "${admin_sed[@]}" "$ADMIN_SRC" >"$tmp_admin"
  run install -m 0755 -o root -g root "$tmp_admin" "$ADMIN_DEST"
fi

# ---------------------------------------------------------------------------
# 5. configuration file with secrets (only if absent)
# ---------------------------------------------------------------------------
step "environment file $ENV_FILE"
# Created with fresh secrets and an admin password only when absent; an existing file keeps
# its values (a missing ADMIN_PASSWORD is added).
run bash "$SCRIPT_DIR/env-file.sh" --template "$env_template" --env-file "$ENV_FILE" \
  --upload-root "$upload_root" --server-name "$server_name"

# ---------------------------------------------------------------------------
# 6. systemd unit
# ---------------------------------------------------------------------------
step "systemd unit $UNIT_DEST"
unit_sed=(-e "s|^ReadWritePaths=.*|ReadWritePaths=$upload_root|"
  -e "s|^ExecStart=/usr/bin/node |ExecStart=$node_bin |")
was_active=0
if have systemctl && systemctl is-active --quiet "$SERVICE_NAME" 2>/dev/null; then
  was_active=1
fi
if (( DRY_RUN )); then
  would "install $UNIT_SRC -> $UNIT_DEST (mode 0644; ReadWritePaths=$upload_root; ExecStart=$node_bin $APP_DIR/dist/main.js)"
else
  tmp_unit="$(mktemp_tracked)"
  sed "${unit_sed[@]}" "$UNIT_SRC" >"$tmp_unit"
  run install -m 0644 -o root -g root "$tmp_unit" "$UNIT_DEST"
fi
run systemctl daemon-reload
run systemctl enable --now "$SERVICE_NAME"
if (( was_active )); then
  # enable --now does not restart a running service; pick up the new build.
  run systemctl restart "$SERVICE_NAME"
elif (( DRY_RUN )); then
  echo "(if $SERVICE_NAME is already running: systemctl restart $SERVICE_NAME)"
fi

# ---------------------------------------------------------------------------
# 7. nginx
# ---------------------------------------------------------------------------
# Installs the site rendered with render_nginx's extra arguments ("" or --stage acme); when
# nginx -t fails, the previous state is put back so the next reload of nginx still works.
install_site() {
  if (( DRY_RUN )); then
    would "deploy/render-nginx.sh --server-name $(printf '%q' "$server_name") --upstream $upstream --upload-root $upload_root --max-body-mb $max_body_mb --max-conn-per-address $max_conn_per_address --tls-cert $tls_cert --tls-key $tls_key --accel-prefix $accel_prefix --acme-root $ACME_ROOT $* > $NGINX_AVAILABLE"
    run ln -sfn "$NGINX_AVAILABLE" "$NGINX_ENABLED"
    run nginx -t
    run systemctl reload nginx
    return 0
  fi
  local tmp_conf backup="" had_link=0
  tmp_conf="$(mktemp_tracked)"
  render_nginx "$@" >"$tmp_conf"
  if [[ -e "$NGINX_AVAILABLE" ]]; then
    backup="$(mktemp_tracked)"
    cp -a "$NGINX_AVAILABLE" "$backup"
  fi
  [[ -L "$NGINX_ENABLED" ]] && had_link=1
  run install -m 0644 -o root -g root "$tmp_conf" "$NGINX_AVAILABLE"
  run ln -sfn "$NGINX_AVAILABLE" "$NGINX_ENABLED"
  if ! run nginx -t; then
    if [[ -n "$backup" ]]; then cp -a "$backup" "$NGINX_AVAILABLE"; else rm -f "$NGINX_AVAILABLE"; fi
    (( had_link )) || rm -f "$NGINX_ENABLED"
    die "nginx -t failed; previous nginx configuration restored"
  fi
  if systemctl is-active --quiet nginx; then
    run systemctl reload nginx
  else
    run systemctl enable --now nginx
  fi
}

if (( skip_nginx )); then
  step "nginx (skipped: --skip-nginx)"
else
  step "nginx site $NGINX_AVAILABLE"
  run install -d -m 0755 "$ACME_ROOT"
  if [[ ! -r "$tls_cert" || ! -r "$tls_key" ]]; then
    if (( ! tls_default || no_certbot )) || [[ "$server_name" == *'*'* ]]; then
      msg="TLS certificate/key not found ($tls_cert, $tls_key). deploy.sh runs certbot only for
the default Let's Encrypt paths, without --no-certbot and for names without '*'. Pass
--tls-cert/--tls-key, or rerun with --skip-nginx."
      if (( DRY_RUN )); then warn "$msg"; else die "$msg"; fi
    else
      # A fresh host: the TLS site cannot load without its certificate, and certbot needs a
      # site that answers its challenge first. Stage one serves only the ACME webroot.
      echo "no certificate yet: an HTTP-only site for the ACME challenge, then certbot"
      install_site --stage acme
      if ! have certbot; then
        msg="certbot not found: apt-get install certbot, then rerun deploy.sh (the HTTP-only
site serving $ACME_ROOT for the challenge is installed)"
        if (( DRY_RUN )); then warn "$msg"; else die "$msg"; fi
      fi
      certbot_args=(certonly --webroot -w "$ACME_ROOT" --non-interactive --agree-tos
        --keep-until-expiring --cert-name "$first_name" --deploy-hook "systemctl reload nginx")
      for name in $server_name; do certbot_args+=(-d "$name"); done
      if [[ -n "$certbot_email" ]]; then
        certbot_args+=(--email "$certbot_email")
      else
        certbot_args+=(--register-unsafely-without-email)
      fi
      run certbot "${certbot_args[@]}"
      if (( ! DRY_RUN )) && [[ ! -r "$tls_cert" || ! -r "$tls_key" ]]; then
        die "certbot finished but $tls_cert / $tls_key are not there"
      fi
    fi
  fi
  install_site
fi

step "done"
if (( DRY_RUN )); then
  echo "dry run complete: nothing was changed"
else
  echo "check: systemctl status $SERVICE_NAME; journalctl -u $SERVICE_NAME -f"
fi
