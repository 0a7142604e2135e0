import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

describe('POST /auth/login, /auth/me, /auth/refresh, /auth/logout', () => {
  let s: TestServer;
  beforeAll(async () => {
    // No reuse grace window here: a replay is reuse at once (the window: refresh-grace.test.ts).
    s = await startTestServer({ REFRESH_REUSE_GRACE_SECONDS: '0' });
  });
  afterAll(async () => s.close());

  it('logs the bootstrapped admin in and describes them at /auth/me', async () => {
    const login = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'ADMIN', password: s.adminPassword } });
    expect(login.statusCode).toBe(200);
    const body = login.json();
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 900, user: { username: 'admin', role: 'admin', roles: ['admin'] } });
    const me = await s.asBearer(body.access_token, { method: 'GET', url: '/auth/me' });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ id: body.user.id, username: 'admin', role: 'admin', is_active: true });
    expect(me.json().scopes).toContain('users:admin');
  });

  it('answers an unknown user and a wrong password identically', async () => {
    const unknown = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody', password: 'whatever-1' } });
    const wrong = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: 'whatever-1' } });
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
    expect(unknown.headers['www-authenticate']).toBe('Bearer'); // no token was sent: no token error
  });

  it('rotates refresh tokens and revokes the family when a spent one is replayed', async () => {
    const login = (await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: s.adminPassword } })).json();
    const first = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.refresh_token } });
    expect(first.statusCode).toBe(200);
    const rotated = first.json();
    expect(rotated.refresh_token).not.toBe(login.refresh_token);
    const replay = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.refresh_token } });
    expect(replay.statusCode).toBe(401);
    // The descendant is dead too: the whole family was revoked.
    const descendant = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: rotated.refresh_token } });
    expect(descendant.statusCode).toBe(401);
    // …and so are the access tokens issued in that family, the original and the rotated one.
    expect((await s.asBearer(login.access_token, { method: 'GET', url: '/auth/me' })).statusCode).toBe(401);
    expect((await s.asBearer(rotated.access_token, { method: 'GET', url: '/auth/me' })).statusCode).toBe(401);
  });

  it('logout revokes the access token and its refresh family at once', async () => {
    const login = (await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: s.adminPassword } })).json();
    const out = await s.asBearer(login.access_token, { method: 'POST', url: '/auth/logout' });
    expect(out.statusCode).toBe(200);
    expect(out.json()).toEqual({ message: 'Logged out' });
    expect((await s.asBearer(login.access_token, { method: 'GET', url: '/auth/me' })).statusCode).toBe(401);
    expect((await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.refresh_token } })).statusCode).toBe(401);
  });
});
