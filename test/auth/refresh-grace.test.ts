/**
 * F-16: two refreshes of one refresh token (two tabs, a retry after a timeout) revoked the
 * whole family, the winner's new tokens included: 20 parallel refreshes gave 1 × 200, 19 × 401
 * and a logged-out user. Now, within REFRESH_REUSE_GRACE_SECONDS, every presenter gets the one
 * successor pair (same jtis, signed again: the database keeps no usable token); after it, reuse
 * revokes the family as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { expectInvalidToken, login } from './jwt-kit.js';

describe('F-16 concurrent refreshes share one successor pair', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ REFRESH_REUSE_GRACE_SECONDS: '10' });
  });
  afterAll(async () => s.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  const refresh = (token: string) => s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } });
  const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });

  it('20 parallel refreshes of one token: all 200, one pair identity, and the tokens work', async () => {
    const first = (await login(s, 'admin', s.adminPassword)).json();
    const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(first.refresh_token)));
    expect(answers.map((a) => a.statusCode)).toEqual(new Array(20).fill(200));

    const refreshJtis = new Set(answers.map((a) => decodeJwt(a.json().refresh_token).jti));
    const accessJtis = new Set(answers.map((a) => decodeJwt(a.json().access_token).jti));
    expect(refreshJtis.size).toBe(1);
    expect(accessJtis.size).toBe(1);
    expect(refreshJtis.has(decodeJwt(first.refresh_token).jti)).toBe(false);
    for (const a of answers) {
      expect(a.json()).toMatchObject({ token_type: 'bearer', expires_in: expect.any(Number) });
      expect(a.json().expires_in).toBeGreaterThan(0);
      expect(a.json().expires_in).toBeLessThanOrEqual(900);
    }

    // Every copy of the successor works, the old login's access token too (nothing was revoked)…
    for (const a of answers.slice(0, 3)) expect((await me(a.json().access_token)).statusCode).toBe(200);
    expect((await me(first.access_token)).statusCode).toBe(200);
    // …and the successor refresh token rotates on normally (any copy: they are one token).
    const next = await refresh(answers[7]!.json().refresh_token);
    expect(next.statusCode).toBe(200);
    expect((await me(next.json().access_token)).statusCode).toBe(200);
  });

  it('reuse after the window: 401, and the whole family is revoked', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = (await login(s, 'admin', s.adminPassword)).json();
    const winner = await refresh(first.refresh_token);
    expect(winner.statusCode).toBe(200);
    vi.setSystemTime(Date.now() + 11_000); // beyond REFRESH_REUSE_GRACE_SECONDS
    expectInvalidToken(await refresh(first.refresh_token));
    expectInvalidToken(await refresh(winner.json().refresh_token));
    expectInvalidToken(await me(winner.json().access_token));
    expectInvalidToken(await me(first.access_token));
  });

  it('a replay once the successor has itself been spent is reuse too', async () => {
    const first = (await login(s, 'admin', s.adminPassword)).json();
    const second = await refresh(first.refresh_token);
    const third = await refresh(second.json().refresh_token);
    expect(third.statusCode).toBe(200);
    expectInvalidToken(await refresh(first.refresh_token)); // within the window, but its successor is spent
    expectInvalidToken(await me(third.json().access_token));
  });

  it('logging out one copy of the successor ends all of them', async () => {
    const first = (await login(s, 'admin', s.adminPassword)).json();
    const [a, b] = await Promise.all([refresh(first.refresh_token), refresh(first.refresh_token)]);
    expect((await s.asBearer(a!.json().access_token, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
    expectInvalidToken(await me(b!.json().access_token));
    expectInvalidToken(await refresh(b!.json().refresh_token));
  });

  it('keeps no usable token in the database', async () => {
    const first = (await login(s, 'admin', s.adminPassword)).json();
    const again = (await refresh(first.refresh_token)).json();
    const files = fs.readdirSync(s.root).filter((n) => n.startsWith('metadata.sqlite'));
    const bytes = Buffer.concat(files.map((n) => fs.readFileSync(path.join(s.root, n))));
    expect(bytes.length).toBeGreaterThan(0);
    for (const token of [first.refresh_token, first.access_token, again.refresh_token, again.access_token] as string[]) {
      const signature = token.split('.')[2]!;
      expect(bytes.includes(signature)).toBe(false);
      expect(bytes.includes(token)).toBe(false);
    }
  });
});
