// nginx (Debian's package) with a temporary prefix and a minimal http-only config:
//   - a "direct" server: /storage/ aliased to UPLOAD_ROOT/storage/, sendfile on (Debian's defaults);
//   - optionally an "accel" server: /storage/ and /get/ proxied to our server (started with
//     ACCEL_REDIRECT_PREFIX=/_protected/), plus the `internal` /_protected/ location aliasing
//     UPLOAD_ROOT — the shape of deploy/nginx-file-server.conf without TLS.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, run, startProcess, waitForHttp } from './proc.mjs';

export async function nginxVersion() {
  const r = await run('nginx', ['-v']).catch(() => null);
  return r ? (r.stderr || r.stdout).trim().replace(/^nginx version: /, '') : null;
}

/**
 * Starts nginx; `root` is UPLOAD_ROOT; `upstream` (host:port of our ACCEL server) adds the accel
 * server block. Returns { directUrl, accelUrl, stop }.
 */
export async function startNginx(ctx, { name = 'nginx', root, upstream, accelPrefix = '/_protected/' }) {
  const prefix = path.join(ctx.work, name);
  for (const d of ['', 'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(prefix, d), { recursive: true });
  const directPort = await freePort();
  const accelPort = upstream ? await freePort() : null;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const conf = `
${isRoot ? 'user root;  # the bench work dir is private (0700) to the user running it' : ''}
worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  # Debian's nginx.conf defaults
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  keepalive_requests 1000000;
  types { }
  default_type application/octet-stream;

  server {
    listen 127.0.0.1:${directPort};
    server_tokens off;
    location = /__ready { return 200 "ok"; }
    location /storage/ { alias ${root}/storage/; }
  }
${
  upstream
    ? `
  upstream stream_line { server ${upstream}; keepalive 32; }
  server {
    listen 127.0.0.1:${accelPort};
    server_tokens off;
    client_max_body_size 0;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    location = /__ready { return 200 "ok"; }
    location /storage/ { proxy_buffering off; proxy_pass http://stream_line; }
    location /get/ { proxy_buffering off; proxy_pass http://stream_line; }
    location ${accelPrefix} {
      internal;
      alias ${root}/;
      sendfile on;
      tcp_nopush on;
      types { }
      default_type application/octet-stream;
    }
    location / { proxy_pass http://stream_line; }
  }`
    : ''
}
}
`;
  const confFile = path.join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc = startProcess('nginx', ['-p', `${prefix}/`, '-c', confFile, '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'], {
    name,
    logFile: path.join(prefix, 'stderr.log'),
  });
  try {
    await waitForHttp(`http://127.0.0.1:${directPort}/__ready`, { proc, timeoutMs: 15_000 });
    if (accelPort) await waitForHttp(`http://127.0.0.1:${accelPort}/__ready`, { proc, timeoutMs: 15_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    directUrl: `http://127.0.0.1:${directPort}`,
    accelUrl: accelPort ? `http://127.0.0.1:${accelPort}` : null,
    proc,
    stop: () => proc.stop(),
  };
}
