/**
 * GET /v1/files/folders (direct sub-folders with the count and bytes under each) and
 * DELETE /v1/files/folder (everything under a folder: records, bytes, quota), over HTTP on
 * the configured store and database (the s3 and postgres projects run it again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storedBytes, storeFile } from '../serve/serve-helpers.js';
import { bytes, uploadFile, usage } from './upload-kit.js';

describe('folders', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const folders = (query: string, token?: string) =>
    token ? s.asBearer(token, { method: 'GET', url: `/v1/files/folders?${query}` }) : s.asService({ method: 'GET', url: `/v1/files/folders?${query}` });
  const del = (query: string, token?: string) =>
    token ? s.asBearer(token, { method: 'DELETE', url: `/v1/files/folder?${query}` }) : s.asService({ method: 'DELETE', url: `/v1/files/folder?${query}` });

  it('lists the direct sub-folders of the root and of a folder, with file_count and total_size over each subtree', async () => {
    for (const [folder, size] of [['', 1], ['docs', 10], ['docs/2024', 100], ['docs/2024/q1', 1000], ['docs/drafts', 5], ['docs-old', 7], ['写真', 3]] as const) {
      await storeFile(s, 'fo-1', `f${size}.bin`, bytes(size), { folder });
    }
    await storeFile(s, 'fo-other', 'x.bin', 'x', { folder: 'secret' });
    const root = await folders('user_id=fo-1');
    expect(root.statusCode, root.body).toBe(200);
    expect(root.json()).toEqual({
      folders: [
        { name: 'docs', path: 'docs', file_count: 4, total_size: 1115 },
        { name: 'docs-old', path: 'docs-old', file_count: 1, total_size: 7 },
        { name: '写真', path: '写真', file_count: 1, total_size: 3 },
      ],
    });
    expect((await folders('user_id=fo-1&folder=docs')).json().folders).toEqual([
      { name: '2024', path: 'docs/2024', file_count: 2, total_size: 1100 },
      { name: 'drafts', path: 'docs/drafts', file_count: 1, total_size: 5 },
    ]);
    expect((await folders(`user_id=fo-1&folder=${encodeURIComponent('docs/2024/q1')}`)).json()).toEqual({ folders: [] });
    expect((await folders('user_id=fo-1&folder=')).json().folders).toHaveLength(3);
    // A user sees their own folders; another user's only with admin rights.
    const own = await s.tokenFor('fo-1', { role: 'viewer' });
    expect((await folders('', own)).json().folders.map((f: { name: string }) => f.name)).toEqual(['docs', 'docs-old', '写真']);
    expect((await folders('user_id=fo-other', own)).statusCode).toBe(403);
    expect((await folders('user_id=fo-1&folder=a//b')).statusCode).toBe(400);
  });

  it('DELETE /v1/files/folder removes everything under the folder (records, bytes, quota), nothing beside it', async () => {
    const gone: FileRecord[] = [];
    for (const folder of ['pics', 'pics/2024', 'pics/2024/raw']) gone.push(await storeFile(s, 'fo-2', 'p.jpg', bytes(1000), { folder }));
    const chunked = await uploadFile(s, 'fo-2', 'big.bin', bytes(50_000), 'pics/2024');
    const kept = [await storeFile(s, 'fo-2', 'k.jpg', bytes(11), { folder: 'pics-old' }), await storeFile(s, 'fo-2', 'r.jpg', bytes(22))];
    const before = await usage(s, 'fo-2');
    const res = await del('user_id=fo-2&folder=pics');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ deleted: 4, freed_bytes: 53_000 });
    expect(await usage(s, 'fo-2')).toMatchObject({ fileCount: before.fileCount - 4, usedBytes: before.usedBytes - 53_000 });
    for (const f of [...gone.map((g) => g.key), chunked.key]) {
      expect(await storedBytes(s, f)).toBeNull();
      expect((await s.asService({ method: 'GET', url: `/v1/files/metadata/${f.split('/').map(encodeURIComponent).join('/')}` })).statusCode).toBe(404);
    }
    for (const f of kept) expect((await storedBytes(s, f.key))!.length).toBe(f.size);
    expect((await folders('user_id=fo-2')).json().folders.map((f: { name: string }) => f.name)).toEqual(['pics-old']);
    // Nothing left there: 0 deleted.
    expect((await del('user_id=fo-2&folder=pics')).json()).toEqual({ deleted: 0, freed_bytes: 0 });
  });

  it('folder deletes need an operator of that user (or a service) and a folder (never the root)', async () => {
    await storeFile(s, 'fo-3', 'a.txt', 'a', { folder: 'x' });
    expect((await del('user_id=fo-3')).statusCode).toBe(400);
    expect((await del('user_id=fo-3&folder=')).statusCode).toBe(400);
    expect((await del('folder=x', await s.tokenFor('fo-3', { role: 'viewer' }))).statusCode).toBe(403);
    expect((await del('user_id=fo-3&folder=x', await s.tokenFor('fo-intruder'))).statusCode).toBe(403);
    expect((await del('folder=x', await s.tokenFor('fo-3'))).json()).toEqual({ deleted: 1, freed_bytes: 1 });
  });
});
