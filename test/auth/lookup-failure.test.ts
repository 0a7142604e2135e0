/**
 * A failed user lookup (the database down, a disk error) is a 500, never read as "no such
 * user": generate-token used to mint a token with the asked or default role (operator) for a
 * known viewer when `users.get` failed, skipping the role_above_user check.
 */
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

describe('a user lookup that fails', () => {
  let s: TestServer;
  let viewerId: string;
  const generate = (payload: object) => s.asService({ method: 'POST', url: '/v1/files/generate-token', payload });
  /** The real SQLite store, with getUserById failing as a database in trouble would. */
  const breakUserLookups = () =>
    vi.spyOn(s.app.ctx.store.users, 'getUserById').mockRejectedValue(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }));

  beforeAll(async () => {
    s = await startTestServer();
    const admin = await s.adminToken();
    const made = await s.asBearer(admin, { method: 'POST', url: '/v1/admin/users', payload: { username: 'vera', password: 'password-vera-1', role: 'viewer' } });
    expect(made.statusCode, made.body).toBe(201);
    viewerId = made.json().id;
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => s.close());

  it('control: with the database well, a viewer gets a viewer token and cannot be raised', async () => {
    expect(decodeJwt((await generate({ user_id: viewerId })).json().token)).toMatchObject({ role: 'viewer' });
    expect((await generate({ user_id: viewerId, role: 'operator' })).json()).toMatchObject({ code: 'role_above_user' });
  });

  it.each([
    ['no role asked (the default would be operator)', {}],
    ['a role above the user', { role: 'operator' }],
    ['admin asked', { role: 'admin' }],
  ])('generate-token answers a JSON 500 and mints nothing: %s', async (_what, extra) => {
    const lookup = breakUserLookups();
    const res = await generate({ user_id: viewerId, ...extra });
    expect(lookup).toHaveBeenCalled();
    expect(res.statusCode, res.body).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', code: 'internal_error', message: 'Internal server error' });
    expect(res.body).not.toContain('token');
  });

  it('a user who does not exist is still an external user with the default role', async () => {
    expect(decodeJwt((await generate({ user_id: 'external-user-1' })).json().token)).toMatchObject({ role: 'operator' });
  });

  it('refresh answers 500, not a 401 that would end a session the user still has', async () => {
    const login = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'vera', password: 'password-vera-1' } });
    expect(login.statusCode, login.body).toBe(200);
    breakUserLookups();
    const res = await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.json().refresh_token } });
    expect(res.statusCode, res.body).toBe(500);
    expect(res.json()).toMatchObject({ code: 'internal_error' });
  });

  it('/auth/me answers 500 rather than describe the user from a guess', async () => {
    const token = (await generate({ user_id: viewerId })).json().token as string;
    breakUserLookups();
    const res = await s.asBearer(token, { method: 'GET', url: '/auth/me' });
    expect(res.statusCode, res.body).toBe(500);
    expect(res.json()).toMatchObject({ code: 'internal_error' });
  });
});
