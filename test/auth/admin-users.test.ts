/**
 * /v1/admin/users: create, list, get, patch, delete, by an admin JWT or the service token.
 * The password hash never leaves the server; usernames are unique case-insensitively.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { expectInvalidToken, expectNoCredentials, login } from './jwt-kit.js';

const USER_KEYS = ['created_at', 'email', 'id', 'is_active', 'quota_gb', 'role', 'roles', 'username'];

describe('/v1/admin/users', () => {
  let s: TestServer;
  let admin: string;
  const asAdmin = (opts: Parameters<TestServer['asService']>[0]) => s.asBearer(admin, opts);

  beforeAll(async () => {
    s = await startTestServer();
    admin = await s.adminToken();
  });
  afterAll(async () => s.close());

  const badRequestNaming = (res: { statusCode: number; json(): { message: string } }, field: string) => {
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: expect.any(String) });
    expect(res.json().message).toContain(field);
  };

  it('creates a user: 201, default role operator, no password or hash in the body', async () => {
    const res = await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'Erin', password: 'erin-password-1', email: 'erin@example.com' } });
    expect(res.statusCode).toBe(201);
    const user = res.json();
    expect(Object.keys(user).sort()).toEqual(USER_KEYS);
    expect(user).toMatchObject({ username: 'Erin', email: 'erin@example.com', role: 'operator', roles: ['operator'], is_active: true, quota_gb: null });
    expect(res.body).not.toMatch(/scrypt|argon|hash|erin-password-1/i);
    expect((await login(s, 'erin', 'erin-password-1')).statusCode).toBe(200);
  });

  it('refuses a duplicate username, case-insensitively, with 409', async () => {
    await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'frank', password: 'frank-password-1' } });
    for (const username of ['frank', 'FRANK', 'Frank']) {
      const res = await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username, password: 'other-password-1' } });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ statusCode: 409, error: 'Conflict', code: expect.any(String) });
    }
  });

  it.each([
    ['no username', { password: 'password-123' }, 'body.username'],
    ['a bad username', { username: 'has space', password: 'password-123' }, 'body.username'],
    ['a short password', { username: 'gina', password: 'short' }, 'body.password'],
    ['an unknown role', { username: 'gina', password: 'password-123', role: 'root' }, 'body.role'],
    ['a bad email', { username: 'gina', password: 'password-123', email: 'nope' }, 'body.email'],
  ])('refuses a body with %s (400 naming the field)', async (_name, payload, field) => {
    badRequestNaming(await asAdmin({ method: 'POST', url: '/v1/admin/users', payload }), field);
  });

  it('lists and gets users without hashes; an unknown id is 404', async () => {
    const list = await asAdmin({ method: 'GET', url: '/v1/admin/users' });
    expect(list.statusCode).toBe(200);
    const users = list.json().users as { id: string; username: string }[];
    expect(users.map((u) => u.username)).toEqual(expect.arrayContaining(['admin', 'Erin']));
    for (const u of users) expect(Object.keys(u).sort()).toEqual(USER_KEYS);
    expect(list.body).not.toMatch(/scrypt|password/i);

    const erin = users.find((u) => u.username === 'Erin')!;
    const one = await asAdmin({ method: 'GET', url: `/v1/admin/users/${erin.id}` });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: erin.id, username: 'Erin' });

    const missing = await asAdmin({ method: 'GET', url: '/v1/admin/users/no-such-user' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: expect.any(String) });
  });

  it('patches role, password, is_active and quota_gb', async () => {
    const id = (await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'hank', password: 'hank-old-pass' } })).json().id;
    const patch = (payload: object) => asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload });

    const role = await patch({ role: 'viewer' });
    expect(role.statusCode).toBe(200);
    expect(role.json()).toMatchObject({ role: 'viewer', roles: ['viewer'] });
    expect((await login(s, 'hank', 'hank-old-pass')).json().user.role).toBe('viewer');

    expect((await patch({ password: 'hank-new-pass' })).statusCode).toBe(200);
    expect((await login(s, 'hank', 'hank-new-pass')).statusCode).toBe(200);
    expect((await login(s, 'hank', 'hank-old-pass')).statusCode).toBe(401);

    expect((await patch({ quota_gb: 0.5 })).json().quota_gb).toBe(0.5);
    expect((await patch({ quota_gb: null })).json().quota_gb).toBeNull();

    expect((await patch({ is_active: false })).json().is_active).toBe(false);
    expect((await login(s, 'hank', 'hank-new-pass')).statusCode).toBe(401);
    expect((await patch({ is_active: true })).json().is_active).toBe(true);
    expect((await login(s, 'hank', 'hank-new-pass')).statusCode).toBe(200);
  });

  it('a new password, another role, disabling or deleting ends the sessions already open', async () => {
    const refresh = (token: string) => s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } });
    const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
    const id = (await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'ivy', password: 'ivy-pass-one' } })).json().id;
    const patch = (payload: object) => asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload });
    const cases: [string, () => Promise<unknown>, string][] = [
      ['password', () => patch({ password: 'ivy-pass-two' }), 'ivy-pass-two'],
      ['role', () => patch({ role: 'viewer' }), 'ivy-pass-two'],
      ['disable', async () => {
        await patch({ is_active: false });
        await patch({ is_active: true });
      }, 'ivy-pass-two'],
    ];
    let password = 'ivy-pass-one';
    for (const [what, change, next] of cases) {
      const session = (await login(s, 'ivy', password)).json();
      expect((await me(session.access_token)).statusCode, what).toBe(200);
      await change();
      password = next;
      expectInvalidToken(await me(session.access_token));
      expect((await refresh(session.refresh_token)).statusCode, what).toBe(401);
      const fresh = await login(s, 'ivy', password);
      expect(fresh.statusCode, what).toBe(200);
      expect((await me(fresh.json().access_token)).statusCode, what).toBe(200);
    }
    // Changing only the quota or e-mail, or setting the same role, keeps sessions.
    const kept = (await login(s, 'ivy', password)).json();
    await patch({ quota_gb: 2, role: 'viewer' });
    expect((await me(kept.access_token)).statusCode).toBe(200);
    expect((await refresh(kept.refresh_token)).statusCode).toBe(200);
    // Deleting the user ends them too.
    const last = (await login(s, 'ivy', password)).json();
    expect((await asAdmin({ method: 'DELETE', url: `/v1/admin/users/${id}` })).statusCode).toBe(200);
    expectInvalidToken(await me(last.access_token));
    expect((await refresh(last.refresh_token)).statusCode).toBe(401);
  });

  it('refuses an unknown or invalid PATCH field with 400, and an unknown id with 404', async () => {
    const id = (await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'ivy', password: 'ivy-password-1' } })).json().id;
    const unknown = await asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_admin: true } });
    badRequestNaming(unknown, 'is_admin');
    badRequestNaming(await asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { quota_gb: -1 } }), 'body.quota_gb');
    badRequestNaming(await asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: 'no' } }), 'body.is_active');
    expect((await asAdmin({ method: 'PATCH', url: '/v1/admin/users/no-such-user', payload: { role: 'viewer' } })).statusCode).toBe(404);
  });

  it('deletes a user: 200, then 404 for get, patch and a second delete; the username is free again', async () => {
    const id = (await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'jack', password: 'jack-password-1' } })).json().id;
    const del = await asAdmin({ method: 'DELETE', url: `/v1/admin/users/${id}` });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ deleted: true, id });
    expect((await asAdmin({ method: 'GET', url: `/v1/admin/users/${id}` })).statusCode).toBe(404);
    expect((await asAdmin({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: true } })).statusCode).toBe(404);
    expect((await asAdmin({ method: 'DELETE', url: `/v1/admin/users/${id}` })).statusCode).toBe(404);
    expect((await login(s, 'jack', 'jack-password-1')).statusCode).toBe(401);
    const again = await asAdmin({ method: 'POST', url: '/v1/admin/users', payload: { username: 'jack', password: 'jack-password-2' } });
    expect(again.statusCode).toBe(201);
    expect(again.json().id).not.toBe(id);
  });

  it('lets the service token do all of it', async () => {
    const created = await s.asService({ method: 'POST', url: '/v1/admin/users', payload: { username: 'kate', password: 'kate-password-1', role: 'viewer' } });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    expect((await s.asService({ method: 'GET', url: '/v1/admin/users' })).json().users.map((u: { id: string }) => u.id)).toContain(id);
    expect((await s.asService({ method: 'GET', url: `/v1/admin/users/${id}` })).json().role).toBe('viewer');
    expect((await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { role: 'admin' } })).json().role).toBe('admin');
    const kate = await login(s, 'kate', 'kate-password-1');
    expect(kate.statusCode).toBe(200);
    expect(kate.json().user).toMatchObject({ id, username: 'kate', role: 'admin', roles: ['admin'], email: null });
    expect((await s.asService({ method: 'DELETE', url: `/v1/admin/users/${id}` })).statusCode).toBe(200);
  });

  it('refuses no credentials with 401', async () => {
    expectNoCredentials(await s.app.inject({ method: 'GET', url: '/v1/admin/users' }));
    expectNoCredentials(await s.app.inject({ method: 'POST', url: '/v1/admin/users', payload: { username: 'x', password: 'password-1' } }));
  });
});
