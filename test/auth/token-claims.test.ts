/**
 * Well-signed tokens that must still be refused: bad claims, the wrong kind of token,
 * revoked (even re-encoded), a disabled or deleted user; bad service tokens; tokens in the
 * query string. Every refusal of a token sent is a 401 with `WWW-Authenticate: Bearer
 * error="invalid_token"`; a token in the query string is no credential at all (bare `Bearer`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createUser, expectInvalidToken, expectNoCredentials, flipS, login, mintWithServerKey, now } from './jwt-kit.js';


describe('well-signed but unacceptable tokens', () => {
  let s: TestServer;
  const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('the self-minted baseline passes', async () => {
    expect((await me(await mintWithServerKey(s, 'bob'))).statusCode).toBe(200);
  });

  it.each([
    ['expired (beyond the clock tolerance)', { iat: now() - 3600, exp: now() - 120 }, {}],
    ['a wrong iss', { iss: 'https://evil.example' }, {}],
    ['a wrong aud', { aud: 'some-other-service' }, {}],
    ['no exp', { exp: undefined }, {}],
    ['no jti', { jti: undefined }, {}],
    ['no sub', { sub: undefined }, {}],
    ['iat in the future', { iat: now() + 600, exp: now() + 1200 }, {}],
    ['type "refresh"', { type: 'refresh' }, {}],
    ['no type claim', { type: undefined }, {}],
    ['an unknown role', { role: 'superuser', roles: ['superuser'] }, {}],
    ['typ "JWT"', {}, { typ: 'JWT' }],
    ['typ "rt+jwt"', {}, { typ: 'rt+jwt' }],
    ['no typ', {}, { typ: undefined }],
  ])('refuses %s', async (_name, claims, header) => {
    const token = await mintWithServerKey(s, 'bob', claims, header);
    expectInvalidToken(await me(token));
    expectInvalidToken(await s.asBearer(token, { method: 'GET', url: '/v1/files/all' }));
  });

  it('never takes a refresh token as an access token, nor the reverse', async () => {
    const pair = (await login(s, 'admin', s.adminPassword)).json();
    expectInvalidToken(await me(pair.refresh_token));
    const refresh = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.access_token } });
    expectInvalidToken(refresh);
    // Neither attempt spent anything: the pair still works.
    expect((await me(pair.access_token)).statusCode).toBe(200);
    expect((await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })).statusCode).toBe(200);
  });

  it('keeps a logged-out token revoked however it is re-encoded (revocation is by jti)', async () => {
    const token = (await login(s, 'admin', s.adminPassword)).json().access_token as string;
    const padded = `${token}==`; // a 64-byte signature is 86 base64url chars: "==" is valid padding
    const highS = flipS(token);
    // Both variants are accepted while the token is live: they really are the same token.
    for (const t of [token, padded, highS]) expect((await me(t)).statusCode, t).toBe(200);

    expect((await s.asBearer(token, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
    for (const t of [token, padded, highS]) expectInvalidToken(await me(t));
  });

  it('refuses a disabled user at once; re-enabled, minted tokens work again, ended sessions do not', async () => {
    const id = await createUser(s, 'carol', 'carol-password-1');
    const pair = (await login(s, 'carol', 'carol-password-1')).json();
    const token = pair.access_token as string;
    const minted = await s.tokenFor(id);
    const refresh = () => s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } });
    expect((await me(token)).statusCode).toBe(200);

    const off = await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: false } });
    expect(off.statusCode).toBe(200);
    expectInvalidToken(await me(token));
    expectInvalidToken(await me(minted));
    expectInvalidToken(await refresh());

    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: true } });
    expect((await me(minted)).statusCode).toBe(200); // belongs to no session: only is_active counted
    // Disabling ended the login session: its tokens stay dead, a new login works.
    expectInvalidToken(await me(token));
    expectInvalidToken(await refresh());
    expect((await login(s, 'carol', 'carol-password-1')).statusCode).toBe(200);
  });

  it("refuses a deleted user's tokens", async () => {
    const id = await createUser(s, 'dave', 'dave-password-1');
    const token = (await login(s, 'dave', 'dave-password-1')).json().access_token as string;
    expect((await me(token)).statusCode).toBe(200);
    expect((await s.asService({ method: 'DELETE', url: `/v1/admin/users/${id}` })).statusCode).toBe(200);
    expectInvalidToken(await me(token));
    expectInvalidToken(await s.asBearer(token, { method: 'GET', url: '/v1/files/all' }));
  });

  describe('X-Service-Token', () => {
    const withService = (value: string) =>
      s.app.inject({ method: 'GET', url: '/v1/files/all?user_id=bob', headers: { 'x-service-token': value } });

    it('accepts the configured token', async () => {
      expect((await withService(s.serviceToken)).statusCode).toBe(200);
    });

    it.each([
      ['wrong', () => 'svc-' + 'x'.repeat(48)],
      ['empty', () => ''],
      ['one character short', () => s.serviceToken.slice(0, -1)],
      ['one character long', () => s.serviceToken + 'x'],
      ['very long', () => s.serviceToken.repeat(400)],
    ])('refuses a %s one with 401 (never 500)', async (_name, value) => {
      expectInvalidToken(await withService(value()));
    });

    it('refuses a bad service token even when a valid Bearer token is also sent', async () => {
      const token = await s.tokenFor('bob');
      const res = await s.app.inject({
        method: 'GET',
        url: '/v1/files/all',
        headers: { 'x-service-token': 'wrong-token-wrong-token', authorization: `Bearer ${token}` },
      });
      expectInvalidToken(res);
    });
  });

  it('never reads a token from the query string', async () => {
    const token = await s.tokenFor('bob');
    for (const name of ['token', 'access_token', 'auth_token', 'jwt']) {
      const res = await s.app.inject({ method: 'GET', url: `/auth/me?${name}=${token}` });
      expect(res.statusCode).toBe(401);
      expectNoCredentials(res); // the query string is not a credential: nothing was sent
    }
  });

  it('refuses malformed Authorization headers', async () => {
    const token = await s.tokenFor('bob');
    for (const authorization of [`Basic ${token}`, `Bearer`, `Bearer ${token} extra`, `Token ${token}`, `Bearer ${'a'.repeat(9000)}`]) {
      expectInvalidToken(await s.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization } }));
    }
  });
});
