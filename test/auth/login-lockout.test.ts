/**
 * F-06: anyone could lock any user out (10 wrong passwords a minute for a username → 429 for
 * its owner too), and the per-address limit counted successful logins. Now only failures count,
 * per (username, address) and per address (3×); a flood against one username from other
 * addresses only slows its owner down, never stops them.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressKey } from '../../src/auth/throttle.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createUser } from './jwt-kit.js';

const loginFrom = (s: TestServer, remoteAddress: string, username: string, password: string): Promise<LightMyRequestResponse> =>
  s.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password }, remoteAddress });

const expectTooMany = (res: LightMyRequestResponse) => {
  expect(res.statusCode, res.body).toBe(429);
  expect(res.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'too_many_requests' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
  expect(res.body).not.toContain('access_token');
};

describe('F-06 lockout', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ LOGIN_RATE_LIMIT: '10' }); // the default: 10 per (username, address), 30 per address
    await createUser(s, 'erin', 'erin-Passw0rd!');
    await createUser(s, 'nat', 'nat-Passw0rd!');
  });
  afterAll(async () => s.close());

  it('never counts successful logins: 40 in a minute from one address are all 200', async () => {
    // 30 people behind one NAT logging in: the old per-address limit counted every login.
    for (let i = 0; i < 40; i++) expect((await loginFrom(s, '198.51.100.7', 'nat', 'nat-Passw0rd!')).statusCode).toBe(200);
  });

  it('11 failures for erin from address A: A gets 429 for erin, erin from address B with the right password gets 200', async () => {
    for (let i = 0; i < 10; i++) expect((await loginFrom(s, '192.0.2.10', 'erin', `wrong-${i}`)).statusCode).toBe(401);
    expectTooMany(await loginFrom(s, '192.0.2.10', 'erin', 'wrong-10'));
    expectTooMany(await loginFrom(s, '192.0.2.10', 'ERIN', 'erin-Passw0rd!')); // A stays limited for erin, any spelling
    expect((await loginFrom(s, '192.0.2.20', 'erin', 'erin-Passw0rd!')).statusCode).toBe(200);
    expect((await loginFrom(s, '192.0.2.20', 'ERIN', 'erin-Passw0rd!')).statusCode).toBe(200);
    // A may still log other users in: the limit is per (username, address) until A's own budget is spent.
    expect((await loginFrom(s, '192.0.2.10', 'nat', 'nat-Passw0rd!')).statusCode).toBe(200);
  });

  it('a flood of wrong passwords for erin from many addresses only slows her down, boundedly', async () => {
    // Each address sends its 10 guesses at once (sent one by one, each would wait out the slow-down).
    for (let a = 0; a < 5; a++) {
      const guesses = await Promise.all(Array.from({ length: 10 }, (_, i) => loginFrom(s, `203.0.113.${a + 1}`, 'erin', `guess-${a}-${i}`)));
      expect(guesses.map((g) => g.statusCode)).toEqual(new Array(10).fill(401));
    }
    const t0 = performance.now();
    const res = await loginFrom(s, '192.0.2.30', 'erin', 'erin-Passw0rd!');
    const ms = performance.now() - t0;
    expect(res.statusCode, res.body).toBe(200);
    expect(ms).toBeLessThan(3_000); // the slow-down is at most a second, plus the hash
  });

  it('limits an address across usernames at 3 × LOGIN_RATE_LIMIT failures, then refuses it even a right password', async () => {
    for (let i = 0; i < 30; i++) expect((await loginFrom(s, '192.0.2.40', `nobody-${i}`, 'wrong-password')).statusCode).toBe(401);
    expectTooMany(await loginFrom(s, '192.0.2.40', 'nobody-30', 'wrong-password'));
    expectTooMany(await loginFrom(s, '192.0.2.40', 'nat', 'nat-Passw0rd!'));
    expect((await loginFrom(s, '192.0.2.41', 'nat', 'nat-Passw0rd!')).statusCode).toBe(200);
  });

  it('counts an IPv6 /64 as one address (one subscriber may hold all of it)', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await loginFrom(s, `2001:db8:5:7::${(i + 1).toString(16)}`, `ghost-${i}`, 'wrong-password')).statusCode).toBe(401);
    }
    expectTooMany(await loginFrom(s, '2001:db8:5:7:ffff::1', 'ghost-x', 'wrong-password'));
    expect((await loginFrom(s, '2001:db8:5:8::1', 'nat', 'nat-Passw0rd!')).statusCode).toBe(200);
  });
});

describe('F-06 concurrent guesses', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ LOGIN_RATE_LIMIT: '3' });
    await createUser(s, 'olga', 'olga-Passw0rd!');
  });
  afterAll(async () => s.close());

  it('counts an attempt before its password is checked: 20 guesses sent at once get 3 answers and 17 × 429', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => loginFrom(s, '192.0.2.50', 'olga', `wrong-${i}`)));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes.filter((c) => c === 401)).toHaveLength(3);
    expect(codes.filter((c) => c === 429)).toHaveLength(17);
  });

  it('takes a success back: failures around successes never add up to a block', async () => {
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) expect((await loginFrom(s, '192.0.2.60', 'olga', `wrong-${round}-${i}`)).statusCode).toBe(401);
      expect((await loginFrom(s, '192.0.2.60', 'olga', 'olga-Passw0rd!')).statusCode).toBe(200);
    }
  });
});

describe('addressKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8:5:7::1', '2001:db8:5:7::/64'],
    ['2001:0db8:0005:0007:ffff:1:2:3', '2001:db8:5:7::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('%s → %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});
