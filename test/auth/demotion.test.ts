/**
 * F-05: a demoted admin kept admin rights through a service-minted token (the role came from
 * the token, never the database), created a new admin and re-promoted herself. Now a token's
 * role is the lower of its claim and the user's current role, checked on every request; users
 * with no account here keep the role they were minted with.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createUser } from './jwt-kit.js';

describe('F-05 demotion sticks for service-minted tokens', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const mint = async (userId: string, extra: Record<string, string | number> = {}) => {
    const res = await s.asService({ method: 'POST', url: '/v1/files/generate-token', payload: { user_id: userId, expires_hours: 24, ...extra } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().token as string;
  };
  const setRole = async (id: string, role: string) =>
    expect((await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { role } })).statusCode).toBe(200);
  const initUpload = (token: string) =>
    s.asBearer(token, { method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'x.txt', size: 5, mime: 'text/plain' }] } });
  const me = async (token: string) => (await s.asBearer(token, { method: 'GET', url: '/auth/me' })).json();

  it("the review's flow: a token minted for admin mallory, then mallory demoted to viewer, manages nothing and uploads nothing", async () => {
    const mallory = await createUser(s, 'mallory', 'mallory-Passw0rd!', 'admin');
    const token = await mint(mallory); // the role defaults to her DB role: admin
    expect(decodeJwt(token).role).toBe('admin');
    expect((await s.asBearer(token, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(200);

    await setRole(mallory, 'viewer');
    expect((await s.asBearer(token, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(403);
    const newAdmin = await s.asBearer(token, {
      method: 'POST',
      url: '/v1/admin/users',
      payload: { username: 'mallory2', password: 'mallory2-Passw0rd!', role: 'admin' },
    });
    expect(newAdmin.statusCode).toBe(403);
    const selfPromotion = await s.asBearer(token, { method: 'PATCH', url: `/v1/admin/users/${mallory}`, payload: { role: 'admin' } });
    expect(selfPromotion.statusCode).toBe(403);
    expect((await initUpload(token)).statusCode).toBe(403);
    expect((await s.asBearer(token, { method: 'GET', url: '/v1/files/all' })).statusCode).toBe(200); // a viewer still reads

    // /auth/me tells the truth: the effective role and scopes, not the token's claim.
    expect(await me(token)).toMatchObject({ id: mallory, role: 'viewer', roles: ['viewer'], scopes: ['files:read'] });
    expect((await s.asService({ method: 'GET', url: `/v1/admin/users/${mallory}` })).json().role).toBe('viewer');
  });

  it('operator → viewer: the old token can no longer start uploads', async () => {
    const olaf = await createUser(s, 'olaf', 'olaf-Passw0rd!', 'operator');
    const token = await mint(olaf);
    expect((await initUpload(token)).statusCode).toBe(201);
    await setRole(olaf, 'viewer');
    expect((await initUpload(token)).statusCode).toBe(403);
  });

  it('a promotion does not raise a token above what it was minted with', async () => {
    const vera = await createUser(s, 'vera', 'vera-Passw0rd!', 'viewer');
    const token = await mint(vera);
    await setRole(vera, 'admin');
    expect(await me(token)).toMatchObject({ role: 'viewer', scopes: ['files:read'] });
    expect((await s.asBearer(token, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(403);
  });

  it('a token minted below the user’s role stays below it', async () => {
    const id = await createUser(s, 'lisa', 'lisa-Passw0rd!', 'operator');
    const narrow = await mint(id, { role: 'viewer' });
    expect((await initUpload(narrow)).statusCode).toBe(403);
    expect(await me(narrow)).toMatchObject({ role: 'viewer' });
  });

  it('a user with no account here keeps the role minted for them', async () => {
    const token = await mint('svc-managed-admin', { role: 'admin' });
    expect((await s.asBearer(token, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(200);
    expect(await me(token)).toMatchObject({ id: 'svc-managed-admin', role: 'admin' });
  });

  it('generate-token refuses a role above the user’s own (400 role_above_user)', async () => {
    const id = await createUser(s, 'otto', 'otto-Passw0rd!', 'operator');
    const res = await s.asService({ method: 'POST', url: '/v1/files/generate-token', payload: { user_id: id, role: 'admin' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'role_above_user' });
    expect((await s.asService({ method: 'POST', url: '/v1/files/generate-token', payload: { user_id: id, role: 'viewer' } })).statusCode).toBe(200);
  });
});
