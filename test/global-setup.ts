/**
 * Before any test file runs:
 *  - builds dist/ once: the process-level tests (kill -9, shutdown, CLI, exit codes) run the
 *    real `node dist/main.js`, and parallel builds would collide. Type errors do not stop the
 *    run here (tsc still emits; `npm run typecheck` is the gate for them, run before the tests
 *    in CI): the tests then report what actually breaks;
 *  - starts a throwaway PostgreSQL cluster on a free loopback port (.ci/start-postgres.sh,
 *    Debian's packages, run as root) for the PostgreSQL suites, and removes it afterwards. Its
 *    URL reaches the test files as TEST_POSTGRES_URL. Give TEST_POSTGRES_URL yourself to use a
 *    server of your own; SL_TEST_POSTGRES=off opts out on a machine without PostgreSQL (the
 *    PostgreSQL suites then say they did not run). When the cluster cannot start, the run
 *    fails: a missing database never passes for a green one.
 */
import { spawnSync } from 'node:child_process';
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
  const started = spawnSync('bash', ['.ci/start-postgres.sh'], { env, encoding: 'utf8' });
  const url = /DATABASE_URL=(\S+)/.exec(started.stdout ?? '')?.[1];
  if (started.status !== 0 || !url) {
    throw new Error(
      `could not start the test PostgreSQL cluster (.ci/start-postgres.sh exit ${started.status}): ${started.stderr?.trim()}\n` +
        'Set TEST_POSTGRES_URL to a server of your own, or SL_TEST_POSTGRES=off to leave the PostgreSQL suites out.',
    );
  }
  process.env.TEST_POSTGRES_URL = url;
  return () => {
    spawnSync('bash', ['.ci/start-postgres.sh', 'stop'], { env, stdio: 'ignore' });
  };
}

export default async function setup(): Promise<() => void> {
  const r = spawnSync(process.execPath, ['node_modules/typescript-native/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (r.status !== 0 && r.status !== 2) throw new Error(`tsc failed to build dist/ (exit ${r.status})`);
  const stopPostgres = await startPostgres();
  return () => stopPostgres?.();
}
