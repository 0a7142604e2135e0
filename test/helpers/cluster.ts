/**
 * Two instances, as the scale-out deployment runs them: two `node dist/main.js` processes on
 * one PostgreSQL schema (a fresh one from test/helpers/postgres.ts) and one UPLOAD_ROOT, with
 * the same secrets and PUBLIC_BASE_URL, behind a real nginx whose round-robin `upstream` sends
 * requests to them in turn. Every answer through nginx names the instance that served it
 * (`X-Upstream: 127.0.0.1:PORT`), so a test can show its requests really reached both.
 *
 * With `{ storage: 's3' }` the bytes live on the test S3 server (a fresh key prefix,
 * test/helpers/s3.ts) and each instance has an UPLOAD_ROOT of its own: nothing on disk is shared.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './app.js';
import { nginxBin, stopNginx } from './nginx.js';
import { freshSchema } from './postgres.js';
import { freePort, startServerProcess, type ServerProcess } from './process.js';
import type { S3Place } from './s3.js';

export interface Cluster {
  /** The instances as they run now (a restart replaces one). */
  readonly a: ServerProcess;
  readonly b: ServerProcess;
  /** nginx, round-robin over both: `http://127.0.0.1:PORT`. */
  readonly proxy: string;
  /** What instance A was started with (less PORT): secrets, DATABASE_URL, UPLOAD_ROOT, S3_*. B's differs only in UPLOAD_ROOT on S3. */
  readonly env: Record<string, string>;
  /** The UPLOAD_ROOT both instances share; null on S3, where each has its own. */
  readonly root: string | null;
  readonly databaseUrl: string;
  /** Where the bytes are, on S3 (bucket and key prefix); null on the shared disk. */
  readonly s3: S3Place | null;
  /** 'A' or 'B' for an `X-Upstream` value (or a base URL). */
  nameOf(upstream: string | null): 'A' | 'B';
  /** SIGKILL, and waits until the process is gone. */
  kill9(instance: ServerProcess): Promise<void>;
  /** Stops the instance (SIGTERM unless already dead) and starts a new one on its port. */
  restart(which: 'A' | 'B'): Promise<ServerProcess>;
  /** `node dist/cli.js …` with the instances' environment (same database and secrets). */
  cli(args: string[]): SpawnSyncReturns<string>;
  close(): Promise<void>;
}

/** The environment both instances share; `overrides` are added to it. */
function sharedEnv(root: string, databaseUrl: string, proxy: string, overrides: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'test',
    UPLOAD_ROOT: root,
    DATABASE_URL: databaseUrl,
    PUBLIC_BASE_URL: proxy, // the token issuer: one for all instances
    TRUST_PROXY: '127.0.0.1',
    AUTH_SERVICE_TOKEN: 'svc-' + randomBytes(24).toString('hex'),
    UPLOAD_SIGNING_KEY: 'sig-' + randomBytes(24).toString('hex'),
    AUTH_KEYS_SECRET: 'keys-' + randomBytes(24).toString('hex'),
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: 'admin-' + randomBytes(8).toString('hex'),
    PASSWORD_ARGON2_MEMORY_KIB: '1024',
    LOGIN_RATE_LIMIT: '1000',
    MAX_BODY_MB: '64',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
}

/**
 * A self-contained nginx: one process (no daemon, no master), everything it writes under
 * `dir`, bodies streamed both ways (no request or response buffering: a part reaches the
 * instance while it is being sent, as the kill -9 case needs).
 */
function writeNginxConf(dir: string, listen: number, upstreams: number[]): string {
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'error.log')} warn;`,
      'daemon off;',
      'master_process off;',
      'events { worker_connections 512; }',
      'http {',
      `  access_log ${path.join(dir, 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(dir, t)};`),
      '  client_max_body_size 0;',
      '  upstream instances {',
      ...upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=0;`),
      '  }',
      '  server {',
      `    listen 127.0.0.1:${listen};`,
      '    location / {',
      '      proxy_pass http://instances;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_set_header Host $http_host;',
      '      proxy_set_header X-Forwarded-For $remote_addr;',
      '      proxy_request_buffering off;',
      '      proxy_buffering off;',
      '      add_header X-Upstream $upstream_addr always;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}

async function startProxy(dir: string, conf: string, port: number): Promise<ChildProcess> {
  const nginx = spawn(nginxBin(), ['-c', conf, '-p', dir + '/'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return nginx;
    if (nginx.exitCode !== null || Date.now() > deadline) {
      const log = path.join(dir, 'error.log');
      nginx.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function stopInstance(p: ServerProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  await p.exited;
}

/**
 * Starts both instances at once (so they race to migrate the empty schema, bootstrap the admin
 * and make the first signing key, as a real rollout does), then nginx in front of them.
 */
export async function startCluster(overrides: Record<string, string> = {}, opts: { storage?: 'local' | 's3' } = {}): Promise<Cluster> {
  const dir = await tempDir('sl-cluster-');
  const onS3 = opts.storage === 's3';
  const roots = onS3 ? [path.join(dir, 'uploads-a'), path.join(dir, 'uploads-b')] : [path.join(dir, 'uploads')];
  for (const r of roots) await fs.mkdir(r);
  const schema = await freshSchema('two');
  // Imported here: the S3 SDK costs ~0.2 s to load.
  const s3 = onS3 ? await (await import('./s3.js')).freshS3('two') : null;
  const [portA, portB, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const proxy = `http://127.0.0.1:${proxyPort}`;
  const env = sharedEnv(roots[0]!, schema.url, proxy, { ...s3?.env, ...overrides });
  const envOf = (port: number) => ({ ...env, PORT: String(port), ...(port === portB && onS3 ? { UPLOAD_ROOT: roots[1]! } : {}) });
  const started = await Promise.allSettled([startServerProcess(envOf(portA)), startServerProcess(envOf(portB))]);
  let [a, b] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  if (!a || !b) {
    await Promise.all([a, b].map((p) => p && stopInstance(p)));
    await s3?.drop();
    const reasons = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    throw new Error(`an instance did not start: ${reasons.join('\n')}`);
  }
  const nginx = await startProxy(dir, writeNginxConf(dir, proxyPort, [portA, portB]), proxyPort).catch(async (err: unknown) => {
    await Promise.all([stopInstance(a!), stopInstance(b!)]);
    throw err;
  });
  return {
    get a() {
      return a!;
    },
    get b() {
      return b!;
    },
    proxy,
    env,
    root: onS3 ? null : roots[0]!,
    databaseUrl: schema.url,
    s3,
    nameOf(upstream) {
      if (upstream?.endsWith(`:${portA}`)) return 'A';
      if (upstream?.endsWith(`:${portB}`)) return 'B';
      throw new Error(`not an instance of this cluster: ${upstream}`);
    },
    async kill9(instance) {
      if (instance.child.exitCode !== null || instance.child.signalCode !== null) return;
      instance.child.kill('SIGKILL');
      await instance.exited;
    },
    async restart(which) {
      const old = which === 'A' ? a! : b!;
      await stopInstance(old);
      const fresh = await startServerProcess(envOf(old.port));
      if (which === 'A') a = fresh;
      else b = fresh;
      return fresh;
    },
    cli(args) {
      return spawnSync(process.execPath, [path.resolve('dist/cli.js'), ...args], { env, encoding: 'utf8', timeout: 30_000 });
    },
    async close() {
      await stopNginx(nginx);
      await Promise.all([stopInstance(a!), stopInstance(b!)]);
      await schema.drop();
      await s3?.drop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
