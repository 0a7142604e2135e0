// A throwaway S3 server for the bench: OpenStack Swift with its s3api middleware from Debian's
// packages (.ci/start-s3.sh, run as root; it installs the packages when missing), on five free
// loopback ports in 5600–5699, data under /tmp/sl-bench-s3-<pid>, one bucket. Started once per
// run by the first case that asks, removed at the end (stops only what the script started).
import net from 'node:net';
import path from 'node:path';
import { run, runOk } from './proc.mjs';

const SCRIPT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../.ci/start-s3.sh');

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port with it and the next four free (proxy, object, container, account, memcached). */
async function freeBase() {
  for (let i = 0; i < 60; i++) {
    const base = 5600 + Math.floor(Math.random() * 95);
    const free = await Promise.all([0, 1, 2, 3, 4].map((d) => portIsFree(base + d)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no five free ports in a row in 5600–5699 for the bench S3 server');
}

/**
 * Starts Swift; returns { settings, env(prefix), stop() }: `settings` for an SDK client,
 * `env(prefix)` the server's STORAGE_BACKEND=s3 variables on the run's bucket under `prefix`.
 */
export async function startS3({ log = () => {} } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the S3 case needs root (.ci/start-s3.sh starts OpenStack Swift)');
  const port = await freeBase();
  const env = { ...process.env, S3_DIR: `/tmp/sl-bench-s3-${process.pid}`, S3_PORT: String(port), S3_BUCKET: 'sl-bench', S3_PROXY_WORKERS: '2' };
  const t0 = Date.now();
  const started = await runOk('bash', [SCRIPT], { env, timeoutMs: 5 * 60_000 });
  const vars = Object.fromEntries([...started.stdout.matchAll(/^export (S3_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  const stop = () => run('bash', [SCRIPT, 'stop'], { env }).then(() => undefined);
  if (!vars.S3_ENDPOINT) {
    await stop();
    throw new Error(`start-s3.sh printed no S3_ENDPOINT: ${started.stdout}`);
  }
  const version = (await run('sh', ['-c', "dpkg-query -W -f '${Version}' swift-proxy"])).stdout.trim();
  log(`  Swift ${version} + s3api on ${vars.S3_ENDPOINT} (2 proxy workers, one replica, data under ${env.S3_DIR}); started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const settings = {
    endpoint: vars.S3_ENDPOINT,
    region: vars.S3_REGION,
    bucket: vars.S3_BUCKET,
    accessKeyId: vars.S3_ACCESS_KEY_ID,
    secretAccessKey: vars.S3_SECRET_ACCESS_KEY,
    forcePathStyle: vars.S3_FORCE_PATH_STYLE === 'true',
  };
  return {
    version,
    settings,
    env: (prefix) => ({
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: settings.endpoint,
      S3_REGION: settings.region,
      S3_BUCKET: settings.bucket,
      S3_ACCESS_KEY_ID: settings.accessKeyId,
      S3_SECRET_ACCESS_KEY: settings.secretAccessKey,
      S3_FORCE_PATH_STYLE: String(settings.forcePathStyle),
      ...(prefix ? { S3_PREFIX: prefix } : {}),
    }),
    stop,
  };
}
