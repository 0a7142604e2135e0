/**
 * `Cookie: auth_token=<jwt>` authenticates like a Bearer token, but a cookie rides along
 * on cross-site requests: unsafe cookie-authenticated requests must come from our own
 * origin (PUBLIC_BASE_URL) or one listed in CORS_ORIGINS. Bearer requests are unaffected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { expectInvalidToken, expectNoCredentials, login } from './jwt-kit.js';

describe('cookie authentication and cross-site requests', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PUBLIC_BASE_URL: 'https://files.example.com/', CORS_ORIGINS: 'https://app.example.com, https://admin.example.com/' });
  });
  afterAll(async () => s.close());

  const fresh = async () => (await login(s, 'admin', s.adminPassword)).json().access_token as string;
  const withCookie = (token: string, method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}) =>
    s.app.inject({ method, url, headers: { cookie: `theme=dark; auth_token=${token}`, ...headers } });
  const logout = (token: string, headers: Record<string, string>) => withCookie(token, 'POST', '/auth/logout', headers);
  const csrfRefused = (res: { statusCode: number; json(): unknown }) => {
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: expect.any(String), message: expect.any(String) });
  };

  it('authenticates a GET from the cookie', async () => {
    const res = await withCookie(await fresh(), 'GET', '/auth/me');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ username: 'admin' });
    expect((await withCookie(await fresh(), 'GET', '/v1/files/all', { origin: 'https://evil.example' })).statusCode).toBe(200);
  });

  it('refuses a bad cookie with 401 and an empty one as no credentials', async () => {
    expectInvalidToken(await withCookie('garbage.token.here', 'GET', '/auth/me'));
    expectNoCredentials(await withCookie('', 'GET', '/auth/me'));
  });

  it('refuses a cookie POST from a foreign Origin (and the token stays valid)', async () => {
    const token = await fresh();
    csrfRefused(await logout(token, { origin: 'https://evil.example' }));
    csrfRefused(await logout(token, { origin: 'null' }));
    csrfRefused(await logout(token, { origin: 'https://files.example.com.evil.example' }));
    csrfRefused(await logout(token, { origin: 'http://files.example.com' })); // another scheme is another origin
    expect((await withCookie(token, 'GET', '/auth/me')).statusCode).toBe(200);
  });

  it('refuses a cookie POST with Sec-Fetch-Site: cross-site or same-site and no Origin', async () => {
    const token = await fresh();
    csrfRefused(await logout(token, { 'sec-fetch-site': 'cross-site' }));
    csrfRefused(await logout(token, { 'sec-fetch-site': 'same-site' }));
    csrfRefused(await logout(token, {})); // neither header: the origin is unproven
    expect((await withCookie(token, 'GET', '/auth/me')).statusCode).toBe(200);
  });

  it('allows a cookie POST from our own origin', async () => {
    const token = await fresh();
    const res = await logout(token, { origin: 'https://files.example.com' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Logged out' });
    expectInvalidToken(await withCookie(token, 'GET', '/auth/me'));
  });

  it('allows a cookie POST from an origin in CORS_ORIGINS', async () => {
    for (const origin of ['https://app.example.com', 'https://admin.example.com']) {
      const token = await fresh();
      expect((await logout(token, { origin })).statusCode, origin).toBe(200);
    }
  });

  it('allows a cookie POST marked Sec-Fetch-Site: same-origin', async () => {
    expect((await logout(await fresh(), { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
  });

  it('leaves Bearer and service-token POSTs with a foreign Origin alone', async () => {
    const token = await fresh();
    const bearer = await s.asBearer(token, { method: 'POST', url: '/auth/logout', headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(bearer.statusCode).toBe(200);
    const service = await s.asService({
      method: 'POST',
      url: '/v1/files/generate-token',
      payload: { user_id: 'u1' },
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(service.statusCode).toBe(200);
  });
});
