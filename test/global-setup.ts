/**
 * Before any test file runs:
 *  - builds dist/ once (and the web app's page, dist/webapp/): the process-level tests (kill -9, shutdown, CLI, exit codes) run the
 *    real `node dist/main.js`, and parallel builds would collide. Type errors do not stop the
 *    run here (tsc still emits; `npm run typecheck` is the gate for them, run before the tests
 *    in CI): the tests then report what actually breaks;
 *  - starts a throwaway PostgreSQL cluster on a free loopback port (.ci/start-postgres.sh,
 *    Debian's packages, run as root) for the PostgreSQL suites, and removes it afterwards. Its
 *    URL reaches the test files as TEST_POSTGRES_URL. Give TEST_POSTGRES_URL yourself to use a
 *    server of your own; SL_TEST_POSTGRES=off opts out on a machine without PostgreSQL (the
 *    PostgreSQL suites then say they did not run). When the cluster cannot start, the run
 *    fails: a missing database never passes for a green one;
 *  - starts a throwaway S3 server (OpenStack Swift + s3api, .ci/start-s3.sh, Debian's packages,
 *    run as root) on loopback ports in 5690–5699 (or 5600–5609 when another run holds those),
 *    with one bucket for the run, while dist/ builds; stops exactly the processes it started.
 *    Its settings reach the test files as TEST_S3_* (test/helpers/s3.ts). Give TEST_S3_ENDPOINT
 *    and TEST_S3_BUCKET (with TEST_S3_ACCESS_KEY_ID, TEST_S3_SECRET_ACCESS_KEY, TEST_S3_REGION)
 *    to use a server of your own; SL_TEST_S3=off opts out. When Swift cannot start, the run
 *    fails, as for PostgreSQL.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePgPort(): Promise<number> {
  // The 5600–5699 range is the one open for such services on our CI machines.
  for (let tries = 0; tries < 50; tries++) {
    const port = 5610 + Math.floor(Math.random() * 80);
    if (await portIsFree(port)) return port;
  }
  throw new Error('no free port in 5610–5689 for the test PostgreSQL cluster');
}

async function startPostgres(): Promise<(() => void) | undefined> {
  if (process.env.TEST_POSTGRES_URL || process.env.SL_TEST_POSTGRES === 'off') return undefined;
  const env = {
    ...process.env,
    PG_DIR: `/tmp/sl-test-pg-${process.pid}`,
    PG_PORT: String(await freePgPort()),
    PG_USER: 'sltest',
    PG_DB: 'sltest',
    PG_PASSWORD: randomBytes(12).toString('hex'),
  };
  const started = await runScript(['.ci/start-postgres.sh'], env);
  const url = /DATABASE_URL=(\S+)/.exec(started.stdout)?.[1];
  if (started.status !== 0 || !url) {
    throw new Error(
      `could not start the test PostgreSQL cluster (.ci/start-postgres.sh exit ${started.status}): ${started.stderr.trim()}\n` +
        'Set TEST_POSTGRES_URL to a server of your own, or SL_TEST_POSTGRES=off to leave the PostgreSQL suites out.',
    );
  }
  process.env.TEST_POSTGRES_URL = url;
  return () => {
    spawnSync('bash', ['.ci/start-postgres.sh', 'stop'], { env, stdio: 'ignore' });
  };
}

/** Runs a script without blocking the event loop; resolves with its exit code and output. */
function runScript(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ status: null, stdout, stderr: stderr + String(err) }));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Swift takes S3_PORT..S3_PORT+4 (proxy, object, container, account, memcached): all must be free. */
async function freeS3Ports(): Promise<number[]> {
  const bases = [5690, 5691, 5692, 5693, 5694, 5695, 5600, 5601, 5602, 5603, 5604, 5605];
  const ports = [...new Set(bases.flatMap((b) => [b, b + 1, b + 2, b + 3, b + 4]))];
  const free = new Set((await Promise.all(ports.map(async (p) => ((await portIsFree(p)) ? p : null)))).filter((p) => p !== null));
  return bases.filter((b) => [0, 1, 2, 3, 4].every((i) => free.has(b + i)));
}

async function startS3(): Promise<(() => void) | undefined> {
  if (process.env.TEST_S3_ENDPOINT || process.env.SL_TEST_S3 === 'off') return undefined;
  const failed: string[] = [];
  // Another run (or a developer's own Swift) may take a port between the check and the start:
  // then the script refuses, or one of its servers cannot bind and dies, and another free range
  // is tried. Ranges are tried in random order, so runs starting together rarely meet.
  const free = (await freeS3Ports()).sort(() => Math.random() - 0.5);
  for (const port of free.slice(0, 3)) {
    const env = { ...process.env, S3_DIR: `/tmp/sl-test-s3-${process.pid}`, S3_PORT: String(port), S3_BUCKET: 'sl-test' };
    const started = await runScript(['.ci/start-s3.sh'], env);
    const vars = Object.fromEntries([...started.stdout.matchAll(/^export (S3_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    const stop = () => void spawnSync('bash', ['.ci/start-s3.sh', 'stop'], { env, stdio: 'ignore' });
    if (started.status === 0 && vars.S3_ENDPOINT) {
      process.env.TEST_S3_ENDPOINT = vars.S3_ENDPOINT;
      process.env.TEST_S3_REGION = vars.S3_REGION;
      process.env.TEST_S3_BUCKET = vars.S3_BUCKET;
      process.env.TEST_S3_ACCESS_KEY_ID = vars.S3_ACCESS_KEY_ID;
      process.env.TEST_S3_SECRET_ACCESS_KEY = vars.S3_SECRET_ACCESS_KEY;
      process.env.TEST_S3_FORCE_PATH_STYLE = vars.S3_FORCE_PATH_STYLE;
      process.env.TEST_S3_DIR = env.S3_DIR; // Swift's files: a test can see a PUT arriving (test/helpers/s3.ts)
      return stop;
    }
    stop(); // a half-started server: stop what the script started, remove its directory
    failed.push(`port ${port}: exit ${started.status}: ${started.stderr.trim()}`);
    if (!/already in use|died/.test(started.stderr)) break;
  }
  throw new Error(
    `could not start the test S3 server (.ci/start-s3.sh): ${failed.join('\n') || 'no free ports in 5690–5699 or 5600–5609'}\n` +
      'Set TEST_S3_ENDPOINT and TEST_S3_BUCKET to a server of your own, or SL_TEST_S3=off to leave the S3 suites out.',
  );
}

export default async function setup(): Promise<() => void> {
  // Swift takes a few seconds to start: PostgreSQL starts and dist/ builds meanwhile. (Both
  // scripts may run apt-get when their packages are missing: then one after the other.)
  const swiftInstalled = existsSync('/usr/bin/swift-proxy-server');
  const startingS3 = () =>
    startS3().then(
      (stop) => ({ stop }),
      (error: unknown) => ({ error }),
    );
  const early = swiftInstalled ? startingS3() : undefined;
  const stopPostgres = await startPostgres().catch(async (err: unknown) => {
    const s3 = await early;
    if (s3 && 'stop' in s3) s3.stop?.();
    throw err;
  });
  const s3 = early ?? startingS3();
  const r = spawnSync(process.execPath, ['node_modules/typescript-native/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  // The web app's page (dist/webapp/, served at /): esbuild, well under a second. A page that
  // does not build (mid-edit) must not stop everyone's run: the previous build stays, with a
  // warning, and only the page's own tests see it (no page at all on a fresh clone).
  const web = spawnSync(process.execPath, ['web/build.mjs', '--quiet'], { stdio: 'inherit' });
  if (web.status !== 0) console.warn(`\nweb/build.mjs failed (exit ${web.status}): the web app tests run against the previous build, if any\n`);
  const started = await s3;
  const stopAll = () => {
    if ('stop' in started) started.stop?.();
    stopPostgres?.();
  };
  if ((r.status !== 0 && r.status !== 2) || 'error' in started) {
    stopAll();
    if ('error' in started) throw started.error;
    throw new Error(`tsc failed to build dist/ (exit ${r.status})`);
  }
  return stopAll;
}
