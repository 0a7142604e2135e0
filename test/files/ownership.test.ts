/**
 * Who may touch what: a user only their own uploads and files (anything else is a 404, the
 * same as missing); a service names the user on user-scoped routes; an admin may act for
 * anyone; a viewer reads but never writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { initOne, list, putPart, uploadFile } from './upload-kit.js';

describe('ownership and roles', () => {
  let s: TestServer;
  let alice: string;
  let bob: string;
  let bobUpload: string;
  let bobKey: string;
  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.tokenFor('alice');
    bob = await s.tokenFor('bob');
    bobUpload = await initOne(s, 'bob', { name: 'secret.bin', size: 4 }, { mode: 'single' });
    bobKey = (await uploadFile(s, 'bob', 'diary.txt', Buffer.from('dear'))).key;
  });
  afterAll(async () => s.close());

  const as = (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    s.asBearer(token, { method, url, payload: payload as Buffer, headers: Buffer.isBuffer(payload) ? { 'content-type': 'application/octet-stream' } : {} });

  it("another user's upload is a 404 on status, part, complete and abort", async () => {
    const tries = [
      await as(alice, 'GET', `/v1/files/upload/${bobUpload}`),
      await as(alice, 'PUT', `/v1/files/part?uploadId=${bobUpload}&partNumber=1`, Buffer.from('evil')),
      await as(alice, 'POST', '/v1/files/complete', { uploadId: bobUpload }),
      await as(alice, 'DELETE', `/v1/files/upload/${bobUpload}`),
    ];
    for (const res of tries) {
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('upload_not_found');
    }
    const own = await as(bob, 'GET', `/v1/files/upload/${bobUpload}`);
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ state: 'open', parts: [] });
  });

  it("another user's key is a 404 on metadata and delete, exactly like a missing one", async () => {
    const meta = await as(alice, 'GET', `/v1/files/metadata/${bobKey}`);
    const missing = await as(alice, 'GET', `/v1/files/metadata/storage/alice/00000000000000000000000000000000_x`);
    expect(meta.statusCode).toBe(404);
    expect(meta.json()).toEqual(missing.json());
    expect((await as(alice, 'DELETE', `/v1/files/${bobKey}`)).statusCode).toBe(404);
    expect((await as(bob, 'GET', `/v1/files/metadata/${bobKey}`)).statusCode).toBe(200);
  });

  it('a user lists only their own files; naming another user_id is 403, naming oneself is fine', async () => {
    await uploadFile(s, 'alice', 'mine.txt', Buffer.from('a'));
    const mine = await as(alice, 'GET', '/v1/files/all');
    expect(mine.statusCode).toBe(200);
    expect(mine.json().files.map((f: { user_id: string }) => f.user_id)).toEqual(['alice']);
    expect((await as(alice, 'GET', '/v1/files/all?user_id=alice')).statusCode).toBe(200);
    const other = await as(alice, 'GET', '/v1/files/all?user_id=bob');
    expect(other.statusCode).toBe(403);
    expect((await as(alice, 'POST', '/v1/files/init?user_id=bob', { mode: 'single', files: [{ name: 'x', size: 1 }] })).statusCode).toBe(403);
    expect((await as(alice, 'POST', '/v1/files/init', { mode: 'single', files: [{ name: 'x', size: 1 }], user_id: 'bob' })).statusCode).toBe(403);
  });

  it('a user token inits for its own user; the upload is theirs', async () => {
    const res = await as(alice, 'POST', '/v1/files/init', { mode: 'single', files: [{ name: 'a.txt', size: 1 }] });
    expect(res.statusCode).toBe(201);
    const id = res.json().uploadId;
    expect((await as(bob, 'GET', `/v1/files/upload/${id}`)).statusCode).toBe(404);
    expect((await as(alice, 'PUT', `/v1/files/part?uploadId=${id}&partNumber=1`, Buffer.from('a'))).statusCode).toBe(200);
    const done = await as(alice, 'POST', '/v1/files/complete', { uploadId: id });
    expect(done.statusCode).toBe(201);
    expect(done.json().user_id).toBe('alice');
  });

  it('a service must name user_id on user-scoped routes, and needs none on routes addressed by key or uploadId', async () => {
    const initNoUser = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'x', size: 1 }] } });
    expect(initNoUser.statusCode).toBe(400);
    expect(initNoUser.json().code).toBe('user_id_required');
    const listNoUser = await s.asService({ method: 'GET', url: '/v1/files/all' });
    expect(listNoUser.statusCode).toBe(400);
    expect(listNoUser.json().code).toBe('user_id_required');
    expect((await s.asService({ method: 'GET', url: `/v1/files/metadata/${bobKey}` })).statusCode).toBe(200);
    expect((await s.asService({ method: 'GET', url: `/v1/files/upload/${bobUpload}` })).statusCode).toBe(200);
    expect((await s.asService({ method: 'GET', url: '/v1/files/all?user_id=bob' })).json().total_count).toBe(1);
  });

  it('an admin may act for any user: list, status, init', async () => {
    const admin = await s.adminToken();
    expect((await as(admin, 'GET', '/v1/files/all?user_id=bob')).json().total_count).toBe(1);
    expect((await as(admin, 'GET', `/v1/files/upload/${bobUpload}`)).statusCode).toBe(200);
    expect((await as(admin, 'GET', `/v1/files/metadata/${bobKey}`)).statusCode).toBe(200);
    const res = await as(admin, 'POST', '/v1/files/init', { mode: 'single', files: [{ name: 'x', size: 1 }], user_id: 'carol' });
    expect(res.statusCode).toBe(201);
    expect((await s.asService({ method: 'GET', url: `/v1/files/upload/${res.json().uploadId}` })).statusCode).toBe(200);
  });

  it('a viewer reads (list, metadata, status) but cannot init, send parts, complete, abort or delete (403)', async () => {
    const viewer = await s.tokenFor('bob', { role: 'viewer' });
    expect((await as(viewer, 'GET', '/v1/files/all')).statusCode).toBe(200);
    expect((await as(viewer, 'GET', `/v1/files/metadata/${bobKey}`)).statusCode).toBe(200);
    expect((await as(viewer, 'GET', `/v1/files/upload/${bobUpload}`)).statusCode).toBe(200);
    const writes = [
      await as(viewer, 'POST', '/v1/files/init', { mode: 'single', files: [{ name: 'x', size: 1 }] }),
      await as(viewer, 'PUT', `/v1/files/part?uploadId=${bobUpload}&partNumber=1`, Buffer.from('abcd')),
      await as(viewer, 'POST', '/v1/files/complete', { uploadId: bobUpload }),
      await as(viewer, 'DELETE', `/v1/files/upload/${bobUpload}`),
      await as(viewer, 'DELETE', `/v1/files/${bobKey}`),
    ];
    for (const res of writes) {
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('insufficient_scope');
    }
    expect((await s.asService({ method: 'GET', url: `/v1/files/metadata/${bobKey}` })).statusCode).toBe(200);
    expect((await s.asService({ method: 'GET', url: `/v1/files/upload/${bobUpload}` })).json().parts).toEqual([]);
  });

  it('a token narrowed to files:read cannot write even with the operator role', async () => {
    const narrow = await s.tokenFor('bob', { scope: 'files:read' });
    expect((await as(narrow, 'GET', '/v1/files/all')).statusCode).toBe(200);
    expect((await as(narrow, 'DELETE', `/v1/files/${bobKey}`)).statusCode).toBe(403);
    expect((await putPart(s, bobUpload, 1, Buffer.from('abcd'))).statusCode).toBe(200); // the service still may
  });

  it('no credentials: 401 on every files route', async () => {
    for (const [method, url] of [['GET', '/v1/files/all'], ['POST', '/v1/files/init'], ['GET', `/v1/files/metadata/${bobKey}`], ['DELETE', `/v1/files/${bobKey}`], ['PUT', `/v1/files/part?uploadId=${bobUpload}&partNumber=1`]] as const) {
      const res = await s.app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
    }
    expect((await list(s, 'bob')).json().total_count).toBe(1);
  });
});
