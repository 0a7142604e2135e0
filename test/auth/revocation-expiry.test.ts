/**
 * F-12: a logged-out access token worked again for up to 30 s after its `exp`: tokens are
 * accepted until exp + 30 s (clock tolerance), but housekeeping dropped the revocation row at
 * exp. Now revocations are pruned only once their token can no longer be accepted.
 *
 * The clock is vitest's fake Date (with setInterval, so the server's real housekeeping timer
 * runs when the test says); nothing sleeps.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { expectInvalidToken, login } from './jwt-kit.js';

describe('F-12 a revocation lasts until exp + clock tolerance', () => {
  let s: TestServer;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    // UPLOAD_EXPIRY_HOURS=0.001: housekeeping every second (a quarter of the expiry, at least 1 s).
    s = await startTestServer({ ACCESS_TOKEN_TTL: '60', UPLOAD_EXPIRY_HOURS: '0.001' });
  });
  afterAll(async () => {
    await s.close();
    vi.useRealTimers();
  });

  const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
  const housekeepingAt = async (unixSeconds: number) => {
    vi.setSystemTime(unixSeconds * 1000);
    await vi.advanceTimersByTimeAsync(1000); // the housekeeping interval fires once, at unixSeconds + 1
  };

  it('keeps a logged-out token refused while the tolerance would still accept it, through housekeeping', async () => {
    const loggedOut = (await login(s, 'admin', s.adminPassword)).json().access_token as string;
    const control = (await login(s, 'admin', s.adminPassword)).json().access_token as string;
    expect((await s.asBearer(loggedOut, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
    expectInvalidToken(await me(loggedOut));

    const exp = decodeJwt(loggedOut).exp!;
    expect(Math.abs(decodeJwt(control).exp! - exp)).toBeLessThanOrEqual(1);
    await housekeepingAt(exp + 10); // past exp, inside the 30 s tolerance: the row must survive the prune
    expect((await me(control)).statusCode).toBe(200); // the tolerance really does still accept a live token
    expectInvalidToken(await me(loggedOut));

    await housekeepingAt(exp + 28);
    expectInvalidToken(await me(loggedOut));

    await housekeepingAt(exp + 40); // beyond the tolerance: refused as expired, the row may go
    expectInvalidToken(await me(loggedOut));
    expectInvalidToken(await me(control));
  });

  it('keeps the access tokens of a revoked family refused just as long', async () => {
    const pair = (await login(s, 'admin', s.adminPassword)).json();
    const refreshed = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } });
    expect(refreshed.statusCode).toBe(200);
    const access = refreshed.json().access_token as string;
    // Logout by the refresh token alone revokes its family, and so the access token issued with it.
    const other = (await login(s, 'admin', s.adminPassword)).json().access_token as string;
    const out = await s.asBearer(other, { method: 'POST', url: '/auth/logout', payload: { refresh_token: refreshed.json().refresh_token } });
    expect(out.statusCode).toBe(200);
    expectInvalidToken(await me(access));
    await housekeepingAt(decodeJwt(access).exp! + 10);
    expectInvalidToken(await me(access));
  });
});
