/**
 * GET /v1/files/usage (F-07): a user's quota and everything that counts against it, so a
 * client can tell "quota full" from "too many files" or "too many open uploads" before it
 * tries. A user sees their own; an admin or a service names anyone with ?user_id=.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { complete, initOne, putPart } from './upload-kit.js';

const GiB = 1024 ** 3;
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ PER_USER_QUOTA_GB: '0.5' });
});
afterAll(async () => s.close());

const get = (headers: Record<string, string>, query = '') => s.app.inject({ method: 'GET', url: `/v1/files/usage${query}`, headers });

describe('GET /v1/files/usage', () => {
  it('a user token: own figures, {user_id, quota_bytes, used_bytes, reserved_bytes, file_count, open_uploads}', async () => {
    const done = await initOne(s, 'use-a', { name: 'a.txt', size: 5 }, { mode: 'single' });
    await putPart(s, done, 1, Buffer.from('hello'));
    expect((await complete(s, done)).statusCode).toBe(201);
    await initOne(s, 'use-a', { name: 'b.bin', size: 700 }, { mode: 'single' });
    await initOne(s, 'use-a', { name: 'c.bin', size: 0 }, { mode: 'single' });

    const token = await s.tokenFor('use-a', { role: 'viewer' });
    const res = await get({ authorization: `Bearer ${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      user_id: 'use-a',
      quota_bytes: Math.floor(0.5 * GiB),
      used_bytes: 5,
      reserved_bytes: 700,
      file_count: 1,
      open_uploads: 2,
    });
    expect((await get({ authorization: `Bearer ${token}` }, '?user_id=use-a')).statusCode).toBe(200);

    // The same figures in /auth/me.
    const me = await s.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${token}` } });
    expect(me.json()).toMatchObject({ id: 'use-a', quota_bytes: Math.floor(0.5 * GiB), used_bytes: 5, reserved_bytes: 700, file_count: 1, open_uploads: 2 });
  });

  it("another user's figures: 403 for a user, 200 for an admin and for a service (which must name the user)", async () => {
    const token = await s.tokenFor('use-b');
    const denied = await get({ authorization: `Bearer ${token}` }, '?user_id=use-a');
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('forbidden_user');

    const admin = await get({ authorization: `Bearer ${await s.adminToken()}` }, '?user_id=use-a');
    expect(admin.statusCode).toBe(200);
    expect(admin.json()).toMatchObject({ user_id: 'use-a', file_count: 1 });

    const svc = await s.asService({ method: 'GET', url: '/v1/files/usage?user_id=use-a' });
    expect(svc.json()).toMatchObject({ user_id: 'use-a', open_uploads: 2 });
    const unnamed = await s.asService({ method: 'GET', url: '/v1/files/usage' });
    expect(unnamed.statusCode).toBe(400);
    expect(unnamed.json().code).toBe('user_id_required');
  });

  it("a user's quota override is what quota_bytes reports; a user with nothing yet reads zeros", async () => {
    const created = await s.asService({ method: 'POST', url: '/v1/admin/users', payload: { username: 'usage-user', password: 'a-long-password-1' } });
    const id = created.json().id as string;
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { quota_gb: 0.25 } });
    const res = await s.asService({ method: 'GET', url: `/v1/files/usage?user_id=${id}` });
    expect(res.json()).toEqual({ user_id: id, quota_bytes: Math.floor(0.25 * GiB), used_bytes: 0, reserved_bytes: 0, file_count: 0, open_uploads: 0 });
  });

  it('no credentials → 401; a bad user_id → 400', async () => {
    expect((await get({})).statusCode).toBe(401);
    expect((await s.asService({ method: 'GET', url: '/v1/files/usage?user_id=../x' })).statusCode).toBe(400);
  });
});
