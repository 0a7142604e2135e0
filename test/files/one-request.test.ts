/**
 * POST /v1/files: the one-request multipart upload of one or more files (optional folder
 * field), streamed to the store, answering with the records; a request that fails keeps nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storedBytes } from '../serve/serve-helpers.js';
import { halfWritten, objectKeys } from './store-probes.js';
import { bytes, list, MiB, multipartBody, sha256, usage, type FormPart } from './upload-kit.js';

describe('POST /v1/files (one-request upload)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_BODY_MB: '2' });
  });
  afterAll(async () => s.close());

  const post = (user: string, parts: FormPart[], query = '') => {
    const form = multipartBody(parts);
    return s.asService({ method: 'POST', url: `/v1/files?user_id=${user}${query}`, headers: { 'content-type': form.contentType }, payload: form.body });
  };

  it('stores several files in the folder given by a field, answering with their records', async () => {
    const a = bytes(1000);
    const b = bytes(MiB);
    const res = await post('or-u', [
      { name: 'folder', value: 'main/pictures' },
      { name: 'file', filename: 'a.png', contentType: 'image/png', data: a },
      { name: 'file', filename: '写真 2.jpg', contentType: 'image/jpeg', data: b },
    ]);
    expect(res.statusCode).toBe(201);
    const files = res.json().files;
    expect(files).toHaveLength(2);
    expect(files[0]).toMatchObject({ filename: 'a.png', mime: 'image/png', size: 1000, sha256: sha256(a), folder: 'main/pictures', user_id: 'or-u', etag: `"${sha256(a)}"` });
    expect(files[1]).toMatchObject({ filename: '写真 2.jpg', mime: 'image/jpeg', size: MiB, sha256: sha256(b) });
    expect(files[1].key).toMatch(/^storage\/or-u\/main\/pictures\/[0-9a-f]{32}_写真 2\.jpg$/);
    expect((await storedBytes(s, files[0].key))?.equals(a)).toBe(true);
    expect((await storedBytes(s, files[1].key))?.equals(b)).toBe(true);
    expect(await usage(s, 'or-u')).toMatchObject({ usedBytes: 1000 + MiB, fileCount: 2, reservedBytes: 0 });
    expect((await list(s, 'or-u', '&folder=main')).json().total_count).toBe(2);
  });

  it('takes the folder from the query too, and no folder at all', async () => {
    const q = await post('or-q', [{ name: 'file', filename: 'q.txt', data: Buffer.from('q') }], '&folder=docs');
    expect(q.json().files[0].folder).toBe('docs');
    const none = await post('or-q', [{ name: 'upload', filename: 'n.txt', data: Buffer.from('n') }]);
    expect(none.json().files[0]).toMatchObject({ folder: null, filename: 'n.txt' });
    expect(none.json().files[0].key).toMatch(/^storage\/or-q\/[0-9a-f]{32}_n\.txt$/);
  });

  it('a request that fails part-way keeps nothing: not the files before the failure either', async () => {
    const res = await post('or-fail', [
      { name: 'file', filename: 'first.bin', data: bytes(1000) },
      { name: 'file', filename: 'too-big.bin', data: bytes(2 * MiB + 1) },
    ]);
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('file_too_large');
    expect(await usage(s, 'or-fail')).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect((await list(s, 'or-fail')).json().total_count).toBe(0);
    expect(await objectKeys(s, 'storage/or-fail/')).toEqual([]);
    expect(await halfWritten(s)).toBe(0);
  });

  it('refuses a body that is not multipart, or has no file', async () => {
    const raw = await s.asService({ method: 'POST', url: '/v1/files?user_id=or-x', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x') });
    expect(raw.statusCode).toBe(400);
    expect(raw.json().code).toBe('multipart_required');
    const fieldsOnly = await post('or-x', [{ name: 'folder', value: 'a' }]);
    expect(fieldsOnly.statusCode).toBe(400);
    expect(await usage(s, 'or-x')).toMatchObject({ usedBytes: 0 });
  });

  it('needs user_id from a service, and acts as the token user otherwise', async () => {
    const form = multipartBody([{ name: 'file', filename: 'x.txt', data: Buffer.from('x') }]);
    const svc = await s.asService({ method: 'POST', url: '/v1/files', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(svc.statusCode).toBe(400);
    expect(svc.json().code).toBe('user_id_required');
    const token = await s.tokenFor('or-self');
    const mine = await s.asBearer(token, { method: 'POST', url: '/v1/files', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(mine.statusCode).toBe(201);
    expect(mine.json().files[0].user_id).toBe('or-self');
    const other = await s.asBearer(token, { method: 'POST', url: '/v1/files?user_id=or-victim', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(other.statusCode).toBe(403);
    const viewer = await s.tokenFor('or-self', { role: 'viewer' });
    expect((await s.asBearer(viewer, { method: 'POST', url: '/v1/files', headers: { 'content-type': form.contentType }, payload: form.body })).statusCode).toBe(403);
    expect(await usage(s, 'or-victim')).toMatchObject({ usedBytes: 0 });
  });
});
