/**
 * Name rules over HTTP: every bad name is a 400 naming the field, at every route that takes
 * one; good names (CJK, emoji, spaces, the longest key) work end to end and are stored
 * exactly under their key (asked through the BlobStore port: any store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { BAD_NAMES, GOOD_NAMES } from './name-cases.js';
import { objectKeys } from './store-probes.js';
import { bytes, complete, init, initOne, list, listen, multipartBody, putPart, request, storedBytes, uploadFile, usage } from './upload-kit.js';

const BAD_FOLDERS = ['../x', 'a/../../b', '/etc', 'a//b', 'main/', 'a\\b', 'a\u0000', 'a\nb', 'e\u0301', '\ud800', '..%2f/../x'];

describe('names over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const expect400 = (res: { statusCode: number; json(): any }, field: string) => {
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'validation_error' });
    expect(res.json().message).toContain(field);
  };

  it.each(BAD_NAMES)('init refuses filename %j (%s), naming body.files.0.name', async (name) => {
    expect400(await init(s, 'names-u', { mode: 'single', files: [{ name, size: 1 }] }), 'body.files.0.name');
  });

  it.each(BAD_FOLDERS.map((f) => [f]))('init refuses folder %j, naming body.folder', async (folder) => {
    expect400(await init(s, 'names-u', { mode: 'single', files: [{ name: 'ok.txt', size: 1 }], folder }), 'body.folder');
  });

  it('init refuses bad user ids, naming user_id', async () => {
    for (const userId of ['../x', '%2e%2e', 'a/b', '', 'x'.repeat(129)]) {
      expect400(await init(s, userId, { mode: 'single', files: [{ name: 'ok', size: 1 }] }), 'user_id');
    }
    const res = await s.asService({ method: 'GET', url: '/v1/files/all?user_id=..%2Fadmin' });
    expect400(res, 'user_id');
  });

  it('complete refuses a bad meta.filename or meta.folder and leaves the upload open', async () => {
    const id = await initOne(s, 'names-u', { name: 'ok.bin', size: 3 }, { mode: 'single' });
    expect((await putPart(s, id, 1, Buffer.from('abc'))).statusCode).toBe(200);
    for (const [name] of BAD_NAMES) expect400(await complete(s, id, { meta: { filename: name } }), 'body.meta.filename');
    for (const folder of BAD_FOLDERS) expect400(await complete(s, id, { meta: { folder } }), 'body.meta.folder');
    expect((await complete(s, id, { meta: { filename: '報告 #1.bin', folder: 'docs/年' } })).statusCode).toBe(201);
  });

  it('the one-request upload refuses a bad filename or folder field and keeps nothing', async () => {
    const before = await usage(s, 'names-m');
    // (A lone surrogate cannot be written in UTF-8 at all, so it cannot arrive in a multipart header.)
    for (const [filename] of BAD_NAMES.filter(([n]) => n !== '' && n.isWellFormed())) {
      const form = multipartBody([{ name: 'file', filename, data: Buffer.from('x') }]);
      const res = await s.asService({ method: 'POST', url: '/v1/files?user_id=names-m', headers: { 'content-type': form.contentType }, payload: form.body });
      expect(res.statusCode, filename).toBe(400);
      expect(res.json().code).toBe('validation_error');
    }
    for (const folder of BAD_FOLDERS.filter((f) => f.isWellFormed())) {
      const form = multipartBody([{ name: 'folder', value: folder }, { name: 'file', filename: 'ok.txt', data: Buffer.from('x') }]);
      const res = await s.asService({ method: 'POST', url: '/v1/files?user_id=names-m', headers: { 'content-type': form.contentType }, payload: form.body });
      expect(res.statusCode, folder).toBe(400);
      expect(res.json().message).toContain('folder');
    }
    expect(await usage(s, 'names-m')).toEqual(before);
    expect(await objectKeys(s, 'storage/names-m/')).toEqual([]);
  });

  it.each(BAD_FOLDERS.filter((f) => f.isWellFormed()).map((f) => [f]))('listing refuses folder %j, naming querystring.folder', async (folder) => {
    expect400(await list(s, 'names-u', `&folder=${encodeURIComponent(folder)}`), 'folder');
  });


  it.each([
    'storage/names-u/../../metadata.sqlite',
    'storage/names-u/..%2f..%2fmetadata.sqlite',
    'storage/names-u/%2e%2e/%2e%2e/metadata.sqlite',
    'storage/names-u/..%2F..%2F..%2Fetc%2Fpasswd',
    'storage/%2e%2e/names-u/0123456789abcdef0123456789abcdef_x',
    'storage/names-u/0123456789abcdef0123456789abcdef_a%00b',
    'storage/names-u/0123456789abcdef0123456789abcdef_a%0Ab',
    'storage/names-u/x%5C..%5C/0123456789abcdef0123456789abcdef_a',
    '%2Fetc%2Fpasswd',
    'storage/names-u/0123456789abcdef0123456789abcdef_%ED%A0%80',
  ])('a traversal or malformed key path %s is a 400 on metadata and delete, never a file', async (raw) => {
    for (const method of ['GET', 'DELETE'] as const) {
      const url = method === 'GET' ? `/v1/files/metadata/${raw}` : `/v1/files/${raw}`;
      const res = await s.asService({ method, url });
      expect([400, 404], `${method} ${raw}`).toContain(res.statusCode);
    }
    // Nothing was reached through the path: the database a new connection (another
    // instance) opens still holds the records, so it was not removed or replaced.
    const fresh = await openMetadataStore(s.config);
    try {
      expect(await fresh.users.getUserByUsername('admin')).not.toBeNull();
    } finally {
      await fresh.close();
    }
  });

  it('keeps encoded-looking names literally (never decodes them) and inside the user folder', async () => {
    const rec = await uploadFile(s, 'names-lit', '..%2f', Buffer.from('lit'), '%2e%2e/..%2fx');
    expect(rec.filename).toBe('..%2f');
    expect(rec.folder).toBe('%2e%2e/..%2fx');
    expect(rec.key).toMatch(/^storage\/names-lit\/%2e%2e\/\.\.%2fx\/[0-9a-f]{32}_\.\.%2f$/);
    expect((await storedBytes(s, rec.key))?.toString()).toBe('lit');
    const meta = await s.asService({ method: 'GET', url: `/v1/files/metadata/${rec.key.split('/').map(encodeURIComponent).join('/')}` });
    expect(meta.statusCode).toBe(200);
    expect(meta.json().key).toBe(rec.key);
  });

  it.each(GOOD_NAMES.filter((n) => !n.includes('%')).map((n) => [n]))('stores %j under exactly that name', async (name) => {
    const data = bytes(100);
    const rec = await uploadFile(s, 'names-good', name, data, 'main/写真 🎉');
    expect(rec.filename).toBe(name);
    expect(rec.key.endsWith(`_${name}`)).toBe(true);
    expect(rec.folder).toBe('main/写真 🎉');
    expect((await storedBytes(s, rec.key))?.equals(data)).toBe(true);
    const meta = await s.asService({ method: 'GET', url: `/v1/files/metadata/${rec.key.split('/').map(encodeURIComponent).join('/')}` });
    expect(meta.statusCode).toBe(200);
    expect(meta.json().filename).toBe(name);
  });
});

describe('the longest valid key', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const seg = (i: number) => String(i).padStart(2, '0') + '字'.repeat(84) + 'x'; // 255 UTF-8 bytes
  const folder = Array.from({ length: 32 }, (_, i) => seg(i)).join('/');
  const filename = '🎉'.repeat(63) + 'a.b'; // 255 UTF-8 bytes
  const user = 'u'.repeat(128);

  let rec: Record<string, unknown> & { key: string };
  const encoded = () => rec.key.split('/').map(encodeURIComponent).join('/');

  it('uploads, lists and reads metadata (inject)', async () => {
    expect(Buffer.byteLength(filename)).toBe(255);
    rec = await uploadFile(s, user, filename, bytes(1000), folder);
    expect(rec.key).toBe(`storage/${user}/${folder}/${rec.key.split('/').pop()!.slice(0, 32)}_${filename}`);
    expect(Buffer.byteLength(rec.key)).toBeGreaterThan(8 * 1024);
    const listed = await list(s, user, `&folder=${encodeURIComponent(folder)}`);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().files.map((f: { key: string }) => f.key)).toEqual([rec.key]);
    const meta = await s.asService({ method: 'GET', url: `/v1/files/metadata/${encoded()}` });
    expect(meta.statusCode).toBe(200);
    expect(meta.json()).toMatchObject({ key: rec.key, filename, folder, size: 1000 });
  });

  it('works over a real socket too, where the percent-encoded URL is ~25 KB (maxHeaderSize)', async () => {
    const port = await listen(s);
    const headers = { 'x-service-token': s.serviceToken };
    const meta = await request(port, { method: 'GET', path: `/v1/files/metadata/${encoded()}`, headers });
    expect(meta.status).toBe(200);
    const listed = await request(port, { method: 'GET', path: `/v1/files/all?user_id=${user}&folder=${encodeURIComponent(folder)}`, headers });
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body).total_count).toBe(1);
    const del = await request(port, { method: 'DELETE', path: `/v1/files/${encoded()}`, headers });
    expect(del.status).toBe(200);
    expect(JSON.parse(del.body)).toEqual({ deleted: true, key: rec.key });
  });

  it('deletes it: record, bytes and quota (inject)', async () => {
    const del = await s.asService({ method: 'DELETE', url: `/v1/files/${encoded()}` });
    expect([200, 404]).toContain(del.statusCode); // 404 when the real-socket test already deleted it
    expect((await s.asService({ method: 'GET', url: `/v1/files/metadata/${encoded()}` })).statusCode).toBe(404);
    expect(await usage(s, user)).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect(await s.app.ctx.blobs.stat(rec.key)).toBeNull();
  });
});
