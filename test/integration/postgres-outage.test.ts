/**
 * PostgreSQL going away and coming back (SPEC "Scale-out": /healthz pings the database; a lost
 * connection gives 503 there and clean 503 JSON on routes, no crash, no hang; the pool
 * reconnects when the database is back). A cluster of its own, halted and resumed mid-test.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { describePostgres } from '../helpers/postgres.js';

async function freePort(): Promise<number> {
  for (;;) {
    const port = 5610 + Math.floor(Math.random() * 80);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

describePostgres('PostgreSQL outage', () => {
  let s: TestServer;
  const env: Record<string, string> = {};
  const pgctl = (cmd: string) => {
    const r = spawnSync('bash', ['.ci/start-postgres.sh', cmd], { env: { ...process.env, ...env }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`start-postgres.sh ${cmd}: ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    Object.assign(env, { PG_DIR: `/tmp/sl-outage-pg-${process.pid}`, PG_PORT: String(await freePort()), PG_USER: 'outage', PG_DB: 'outage', PG_PASSWORD: randomBytes(8).toString('hex') });
    const url = /DATABASE_URL=(\S+)/.exec(pgctl(''))![1]!;
    s = await startTestServer({ DATABASE_URL: url, AUTH_KEYS_SECRET: randomBytes(24).toString('hex') });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    pgctl('stop');
  });

  const listing = () => s.asService({ method: 'GET', url: '/v1/files/all?user_id=u1' });

  it('answers 503 on /healthz and 503 JSON on routes while the database is down, and recovers when it is back', async () => {
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'ok', db: 'ok' });
    expect((await listing()).statusCode).toBe(200);

    pgctl('halt');
    const health = await s.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({ status: 'degraded', db: 'down' });
    const started = Date.now();
    const down = await listing();
    expect(Date.now() - started).toBeLessThan(6000); // no hang
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.json()).toMatchObject({ code: 'database_unavailable' });
    // Logins and token checks fail closed with the same 503, never as a 401 or a 500.
    const token = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: s.adminPassword } });
    expect(token.statusCode).toBe(503);

    pgctl('resume');
    let back = 0;
    for (let i = 0; i < 50 && back !== 200; i++) {
      back = (await listing()).statusCode;
      if (back !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(200);
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: s.adminPassword } })).statusCode).toBe(200);
  }, 60_000);
});
