/**
 * A real nginx (Debian's package) for tests: renders deploy/nginx-file-server.conf with test
 * values, wraps it in a self-contained main config (everything under one temp dir, one
 * process, no daemon), starts and stops it, and talks to it over TLS on loopback.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join, resolve } from 'node:path';

export const DEPLOY = resolve('deploy');
const RENDER = join(DEPLOY, 'render-nginx.sh');

export function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd ?? resolve('.'), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

export function which(bin: string): string | undefined {
  const r = spawnSync('bash', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** nginx is required (CI installs it); a missing nginx must fail, never skip. */
export function nginxBin(): string {
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx';
  const found = which('nginx');
  if (!found) throw new Error('nginx not found: install it (apt-get install -y nginx) — these tests require it');
  return found;
}

export interface Rendered {
  dir: string;
  uploadRoot: string;
  acmeRoot: string;
  siteConf: string;
  mainConf: string;
  /** The site's own access log (deploy's redacted format). */
  accessLog: string;
  /** The main config's http-level log, which the site's servers must override (Debian's default). */
  defaultAccessLog: string;
  httpsPort: number;
  httpPort: number;
  upstreamPort: number;
}

export interface RenderOptions {
  uploadRoot?: string;
  maxBodyMb?: number;
  /**
   * Run workers as this user, like Debian's `user www-data;` (the master stays root). Without
   * it nginx is one process running as the invoking user, which can read every file.
   */
  workerUser?: string;
  /** More directives for the http block (e.g. an extra server for probing). */
  extraHttp?: string[];
}

/** Renders the template with test values and wraps it in a self-contained nginx main config. */
export function renderInto(
  dir: string,
  ports: { https: number; http: number; upstream: number },
  extra: string[] = [],
  opts: RenderOptions = {},
): Rendered {
  const uploadRoot = opts.uploadRoot ?? join(dir, 'uploads');
  const acmeRoot = join(dir, 'acme');
  mkdirSync(uploadRoot, { recursive: true });
  mkdirSync(join(acmeRoot, '.well-known', 'acme-challenge'), { recursive: true });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (!existsSync(cert)) {
    const r = sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert]);
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  }
  const r = sh('bash', [
    RENDER,
    '--server-name', 'localhost',
    '--upstream', `127.0.0.1:${ports.upstream}`,
    '--upload-root', uploadRoot,
    '--max-body-mb', String(opts.maxBodyMb ?? 2),
    '--tls-cert', cert,
    '--tls-key', key,
    '--listen-https', `127.0.0.1:${ports.https}`,
    '--listen-http', `127.0.0.1:${ports.http}`,
    '--acme-root', acmeRoot,
    '--access-log', join(dir, 'site-access.log'),
    ...extra,
  ]);
  if (r.status !== 0) throw new Error(`render-nginx.sh failed: ${r.stderr}`);
  const siteConf = join(dir, 'site.conf');
  writeFileSync(siteConf, r.stdout);
  // Everything nginx writes stays in `dir`; daemon off lets the test own the process. Without
  // a worker user, master_process off keeps it a single process running as the invoking user;
  // with one, a root master starts one worker as that user (it creates the temp paths for it).
  const mainConf = join(dir, 'nginx.conf');
  const processModel = opts.workerUser
    ? [`user ${opts.workerUser};`, 'master_process on;', 'worker_processes 1;']
    : ['master_process off;'];
  writeFileSync(
    mainConf,
    [
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} info;`,
      'daemon off;',
      ...processModel,
      'events { worker_connections 128; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
      ...(opts.extraHttp ?? []).map((l) => `  ${l}`),
      `  include ${siteConf};`,
      '}',
      '',
    ].join('\n'),
  );
  return {
    dir,
    uploadRoot,
    acmeRoot,
    siteConf,
    mainConf,
    accessLog: join(dir, 'site-access.log'),
    defaultAccessLog: join(dir, 'access.log'),
    httpsPort: ports.https,
    httpPort: ports.http,
    upstreamPort: ports.upstream,
  };
}

export function nginxTest(rc: Rendered): SpawnSyncReturns<string> {
  return sh(nginxBin(), ['-t', '-c', rc.mainConf, '-p', rc.dir + '/']);
}

/**
 * Starts nginx on the rendered config and waits until its TLS port (or `waitPort`: the HTTP-only
 * first stage has none) accepts connections.
 */
export async function startNginx(rc: Rendered, waitPort = rc.httpsPort): Promise<ChildProcess> {
  const nginx = spawn(nginxBin(), ['-c', rc.mainConf, '-p', rc.dir + '/'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(waitPort, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return nginx;
    if (nginx.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(join(rc.dir, 'error.log')) ? readFileSync(join(rc.dir, 'error.log'), 'utf8') : '';
      nginx.kill('SIGKILL');
      throw new Error(`nginx did not start (exit ${nginx.exitCode}): ${stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopNginx(nginx: ChildProcess | undefined): Promise<void> {
  if (!nginx || nginx.exitCode !== null) return;
  const exited = new Promise((r) => nginx.once('exit', r));
  nginx.kill('SIGTERM');
  await exited;
}

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request to nginx (TLS unless `tls: false`), Host: localhost, self-signed cert accepted. */
export function nginxRequest(
  rc: Rendered,
  opts: { path: string; method?: string; headers?: Record<string, string | number>; tls?: boolean },
  write?: (req: http.ClientRequest) => void | Promise<void>,
): Promise<Resp> {
  return new Promise((res, rej) => {
    const mod = opts.tls === false ? http : https;
    const req = mod.request(
      {
        host: '127.0.0.1',
        port: opts.tls === false ? rc.httpPort : rc.httpsPort,
        path: opts.path,
        method: opts.method ?? 'GET',
        headers: { Host: 'localhost', ...opts.headers },
        rejectUnauthorized: false,
        agent: false,
        // A redirect of the longest key carries a ~25 KB Location header.
        maxHeaderSize: 64 * 1024,
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${opts.path}`)));
    if (write) Promise.resolve(write(req)).catch(rej);
    else req.end();
  });
}
