/**
 * F-17 (auth parts): the 401 challenge follows RFC 6750 §3.1 (an error code only when a token
 * was sent), generate-token refuses a disabled or deleted user instead of minting a token that
 * is refused at once, and expires_hours takes decimal digits only (`0x10` was read as 16).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createUser, expectInvalidToken, expectNoCredentials } from './jwt-kit.js';

describe('F-17 auth details', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const generate = (payload?: object, query = '') =>
    s.asService({ method: 'POST', url: `/v1/files/generate-token${query}`, ...(payload ? { payload } : {}) });

  it.each(['/auth/me', '/v1/files/all', '/v1/admin/users'])('401 on %s: bare "Bearer" with no credentials, error="invalid_token" with a bad token', async (url) => {
    expectNoCredentials(await s.app.inject({ method: 'GET', url }));
    expectInvalidToken(await s.asBearer('not.a.token', { method: 'GET', url }));
    expectInvalidToken(await s.app.inject({ method: 'GET', url, headers: { cookie: 'auth_token=not.a.token' } }));
    expectInvalidToken(await s.app.inject({ method: 'GET', url, headers: { 'x-service-token': 'wrong-service-token' } }));
  });

  it('generate-token refuses a disabled user (403 user_disabled), and mints again once re-enabled', async () => {
    const id = await createUser(s, 'dora', 'dora-Passw0rd!');
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: false } });
    const refused = await generate({ user_id: id });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'user_disabled' });
    expect(refused.body).not.toContain('token"');
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: true } });
    expect((await generate({ user_id: id })).statusCode).toBe(200);
  });

  it('generate-token refuses a deleted user (403 user_disabled)', async () => {
    const id = await createUser(s, 'dean', 'dean-Passw0rd!');
    expect((await s.asService({ method: 'DELETE', url: `/v1/admin/users/${id}` })).statusCode).toBe(200);
    expect((await generate({ user_id: id })).json()).toMatchObject({ statusCode: 403, code: 'user_disabled' });
  });

  it.each(['0x10', '1e1', '0b11', ' 16', '16 ', '+16', '-1', '16.', '.5', 'Infinity', '1_0', '１６'])(
    'refuses expires_hours=%j (decimal digits only) with 400, in the query and in the body',
    async (value) => {
      const inQuery = await generate(undefined, `?user_id=u1&expires_hours=${encodeURIComponent(value)}`);
      expect(inQuery.statusCode, inQuery.body).toBe(400);
      expect(inQuery.json().message).toContain('expires_hours');
      const inBody = await generate({ user_id: 'u1', expires_hours: value });
      expect(inBody.statusCode, inBody.body).toBe(400);
    },
  );

  it('accepts decimal expires_hours as a string or a JSON number', async () => {
    expect((await generate(undefined, '?user_id=u1&expires_hours=16')).json().expires_in).toBe(16 * 3600);
    expect((await generate(undefined, '?user_id=u1&expires_hours=0.5')).json().expires_in).toBe(1800);
    expect((await generate({ user_id: 'u1', expires_hours: '2' })).json().expires_in).toBe(7200);
    expect((await generate({ user_id: 'u1', expires_hours: 1.5 })).json().expires_in).toBe(5400);
  });
});
