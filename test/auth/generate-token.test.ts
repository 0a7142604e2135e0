/**
 * POST /v1/files/generate-token (service token only) and what the tokens it mints may do:
 * roles (viewer < operator < admin) and narrower scopes give 403, never 401.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { expectNoCredentials } from './jwt-kit.js';

describe('POST /v1/files/generate-token', () => {
  let s: TestServer;
  const generate = (payload?: object, query = '') =>
    s.asService({ method: 'POST', url: `/v1/files/generate-token${query}`, ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('answers {token, token_type, expires_in, expires_at, user_id} and the token is well formed', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await generate({ user_id: 'svc-user-1', expires_hours: 2 });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['expires_at', 'expires_in', 'token', 'token_type', 'user_id']);
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 7200, user_id: 'svc-user-1' });

    const header = decodeProtectedHeader(body.token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    const jwks = (await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);

    const claims = decodeJwt(body.token);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'role', 'roles', 'scope', 'sub', 'type', 'user_id', 'username'].sort());
    expect(claims).toMatchObject({
      iss: s.config.auth.issuer,
      aud: s.config.auth.audience,
      sub: 'svc-user-1',
      user_id: 'svc-user-1',
      role: 'operator',
      roles: ['operator'],
      scope: 'files:read files:write files:delete',
      type: 'access',
    });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.exp! - claims.iat!).toBe(7200);
    expect(new Date(body.expires_at).getTime()).toBe(claims.exp! * 1000);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect((await s.asBearer(body.token, { method: 'GET', url: '/auth/me' })).json()).toMatchObject({ id: 'svc-user-1', role: 'operator' });
  });

  it('defaults to one hour and takes params from the query string with no body (the seed client)', async () => {
    const res = await generate(undefined, '?user_id=svc-user-2&expires_hours=3');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ user_id: 'svc-user-2', expires_in: 3 * 3600 });
    expect((await generate({ user_id: 'svc-user-2' })).json().expires_in).toBe(3600);
    expect((await generate(undefined, '?user_id=svc-user-2')).json().expires_in).toBe(3600);
  });

  it("uses a known user's role when none is given", async () => {
    const admin = (await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: s.adminPassword } })).json();
    const token = (await generate({ user_id: admin.user.id })).json().token;
    expect(decodeJwt(token)).toMatchObject({ role: 'admin', username: 'admin' });
  });

  it.each([
    ['no user_id', {}, 'user_id'],
    ['an invalid user_id', { user_id: '../etc' }, 'user_id'],
    ['expires_hours beyond MAX_TOKEN_HOURS (24)', { user_id: 'u1', expires_hours: 25 }, 'expires_hours'],
    ['expires_hours of zero', { user_id: 'u1', expires_hours: 0 }, 'expires_hours'],
    ['expires_hours so small the token would be born expired', { user_id: 'u1', expires_hours: 0.0001 }, 'expires_hours'],
    ['expires_hours that is not a number', { user_id: 'u1', expires_hours: 'soon' }, 'expires_hours'],
    ['a scope beyond the role', { user_id: 'u1', role: 'viewer', scope: 'files:read files:write' }, 'files:write'],
    ['an unknown scope', { user_id: 'u1', scope: 'files:read root' }, 'root'],
    ['an unknown role', { user_id: 'u1', role: 'superuser' }, 'role'],
  ])('refuses %s with 400', async (_name, payload, mentioned) => {
    const res = await generate(payload);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: expect.any(String) });
    expect(res.json().message).toContain(mentioned);
  });

  it('refuses expires_hours beyond the bound in the query string too', async () => {
    expect((await generate(undefined, '?user_id=u1&expires_hours=24.5')).statusCode).toBe(400);
    expect((await generate(undefined, '?user_id=u1&expires_hours=24')).statusCode).toBe(200);
  });

  it('refuses user JWTs, even an admin one, with 403', async () => {
    const admin = await s.adminToken();
    const res = await s.asBearer(admin, { method: 'POST', url: '/v1/files/generate-token', payload: { user_id: 'u1' } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden' });
  });

  it('refuses no credentials with 401', async () => {
    expectNoCredentials(await s.app.inject({ method: 'POST', url: '/v1/files/generate-token', payload: { user_id: 'u1' } }));
  });
});

describe('roles and scopes', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const forbidden = (res: { statusCode: number; json(): unknown }) => {
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: expect.any(String), message: expect.any(String) });
  };

  it('a viewer reads but gets 403 on admin routes', async () => {
    const viewer = await s.tokenFor('v1', { role: 'viewer' });
    expect((await s.asBearer(viewer, { method: 'GET', url: '/v1/files/all' })).statusCode).toBe(200);
    forbidden(await s.asBearer(viewer, { method: 'GET', url: '/v1/admin/users' }));
    forbidden(await s.asBearer(viewer, { method: 'POST', url: '/v1/admin/users', payload: { username: 'x1', password: 'password-1' } }));
  });

  it('an operator gets 403 on /v1/admin/users', async () => {
    const operator = await s.tokenFor('o1', { role: 'operator' });
    forbidden(await s.asBearer(operator, { method: 'GET', url: '/v1/admin/users' }));
  });

  it('an admin with a narrower scope gets 403 where users:admin is needed', async () => {
    const full = await s.tokenFor('a1', { role: 'admin' });
    expect((await s.asBearer(full, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(200);
    const narrow = await s.tokenFor('a1', { role: 'admin', scope: 'files:read' });
    forbidden(await s.asBearer(narrow, { method: 'GET', url: '/v1/admin/users' }));
    expect((await s.asBearer(narrow, { method: 'GET', url: '/v1/files/all' })).statusCode).toBe(200);
    expect((await s.asBearer(narrow, { method: 'GET', url: '/auth/me' })).json().scopes).toEqual(['files:read']);
  });

  it('a token without files:read gets 403 on listing', async () => {
    const writeOnly = await s.tokenFor('o2', { role: 'operator', scope: 'files:write' });
    forbidden(await s.asBearer(writeOnly, { method: 'GET', url: '/v1/files/all' }));
  });

  it('a user acts for themselves; only an admin may name another user', async () => {
    const operator = await s.tokenFor('o3');
    expect((await s.asBearer(operator, { method: 'GET', url: '/v1/files/all?user_id=o3' })).statusCode).toBe(200);
    forbidden(await s.asBearer(operator, { method: 'GET', url: '/v1/files/all?user_id=someone-else' }));
    const admin = await s.tokenFor('a2', { role: 'admin' });
    expect((await s.asBearer(admin, { method: 'GET', url: '/v1/files/all?user_id=someone-else' })).statusCode).toBe(200);
  });
});

describe('generate-token with a form body', () => {
  it('accepts application/x-www-form-urlencoded, as older HTTP clients send it', async () => {
    const s = await startTestServer();
    try {
      const res = await s.asService({
        method: 'POST',
        url: '/v1/files/generate-token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'user_id=form-user&expires_hours=2',
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ user_id: 'form-user', expires_in: 7200 });
      const empty = await s.asService({
        method: 'POST',
        url: '/v1/files/generate-token?user_id=form-user',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: '',
      });
      expect(empty.statusCode).toBe(200);
    } finally {
      await s.close();
    }
  });
});
