/**
 * POST /auth/login against guessing: failures per (username, address) are limited (429, then
 * even a correct password from that address waits; other addresses: login-lockout.test.ts),
 * disabled users get the wrong-password answer, and an unknown username costs the same as a
 * wrong password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryFailureCounts } from '../../src/auth/throttle.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { failureCountsConformance } from './failure-counts-conformance.js';
import { createUser, login } from './jwt-kit.js';

describe('login throttling (LOGIN_RATE_LIMIT=3)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ LOGIN_RATE_LIMIT: '3' });
  });
  afterAll(async () => s.close());

  it('answers 429 after 3 failures for one username from one address, then refuses it even the right password', async () => {
    for (let i = 0; i < 3; i++) expect((await login(s, 'admin', `wrong-${i}`)).statusCode).toBe(401);
    const limited = await login(s, 'ADMIN', s.adminPassword); // the username is matched case-insensitively
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({ statusCode: 429, error: 'Too Many Requests', code: expect.any(String), message: expect.any(String) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.body).not.toContain('access_token');
  });

  it('limits one username without locking out another', async () => {
    await createUser(s, 'lena', 'lena-password-1');
    expect((await login(s, 'lena', 'lena-password-1')).statusCode).toBe(200);
  });
});

// The windows behind the limits, in memory (one instance); on PostgreSQL: test/db/pg-login-throttle.test.ts.
failureCountsConformance('memory', async () => ({ counts: new MemoryFailureCounts(), cleanup: async () => undefined }), { shared: false });

describe('login answers that reveal nothing', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await createUser(s, 'mona', 'mona-password-1');
  });
  afterAll(async () => s.close());

  it('refuses a disabled user with the same 401 body as a wrong password', async () => {
    const id = await createUser(s, 'nina', 'nina-password-1');
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: false } });
    const disabled = await login(s, 'nina', 'nina-password-1');
    const wrong = await login(s, 'mona', 'not-her-password');
    const unknown = await login(s, 'nobody-at-all', 'not-her-password');
    expect(disabled.statusCode).toBe(401);
    expect(disabled.json()).toEqual(wrong.json());
    expect(unknown.json()).toEqual(wrong.json());
    expect(disabled.headers['www-authenticate']).toBe(wrong.headers['www-authenticate']);
  });

  it('takes as long for an unknown user as for a wrong password', async () => {
    const time = async (username: string) => {
      const t0 = process.hrtime.bigint();
      const res = await login(s, username, 'wrong-password-x');
      expect(res.statusCode).toBe(401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await time('warm-up-unknown'); // the first unknown user pays for the dummy hash
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 7; i++) {
      unknown.push(await time(`ghost-${i}`));
      wrong.push(await time('mona'));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[3]!;
    const ratio = median(unknown) / median(wrong);
    expect(ratio, `unknown ${median(unknown).toFixed(2)} ms vs wrong ${median(wrong).toFixed(2)} ms`).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});
