/**
 * GET /v1/files/all, GET /v1/files/metadata/{key}, DELETE /v1/files/{key}: folder selection
 * (recursive unless told otherwise, never a sibling that merely shares a prefix), keyset
 * pagination with an opaque cursor, totals over every match, and deletion that frees quota.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { fileOf } from '../db/metadata-conformance.js';
import { storedBytes } from '../serve/serve-helpers.js';
import { list, uploadFile, usage } from './upload-kit.js';

describe('GET /v1/files/all', () => {
  let s: TestServer;
  const user = 'ls-u';
  const keys: Record<string, string> = {};
  beforeAll(async () => {
    s = await startTestServer();
    const put = async (name: string, size: number, folder?: string) => {
      keys[`${folder ?? ''}/${name}`] = (await uploadFile(s, user, name, Buffer.alloc(size, 1), folder)).key;
    };
    await put('root.txt', 1);
    await put('a.txt', 10, 'main');
    await put('b.txt', 20, 'main/pictures');
    await put('c.txt', 40, 'main/pictures/2024');
    await put('d.txt', 80, 'main-old');
    await put('e.txt', 160, 'mainly');
    await put('f.txt', 320, 'other/main');
    await uploadFile(s, 'ls-other', 'not-mine.txt', Buffer.alloc(5), 'main');
  });
  afterAll(async () => s.close());

  const names = (res: { json(): any }) => res.json().files.map((f: { filename: string }) => f.filename).sort();

  it('lists every file of the user (only theirs), newest first, with totals', async () => {
    const res = await list(s, user);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(names(res)).toEqual(['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt', 'root.txt']);
    expect(body).toMatchObject({ total_count: 7, total_size: 631, next_cursor: null });
    const times = body.files.map((f: { created_at: string }) => f.created_at);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('folder selects that folder and everything below it, but not a sibling like main-old', async () => {
    const res = await list(s, user, '&folder=main');
    expect(names(res)).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(res.json()).toMatchObject({ total_count: 3, total_size: 70 });
    expect(names(await list(s, user, '&folder=main/pictures'))).toEqual(['b.txt', 'c.txt']);
    expect(names(await list(s, user, '&folder=main-old'))).toEqual(['d.txt']);
    expect(names(await list(s, user, '&folder=mai'))).toEqual([]);
    expect(names(await list(s, user, '&folder=other'))).toEqual(['f.txt']);
  });

  it('recursive=false selects that folder only', async () => {
    const res = await list(s, user, '&folder=main&recursive=false');
    expect(names(res)).toEqual(['a.txt']);
    expect(res.json()).toMatchObject({ total_count: 1, total_size: 10 });
    expect((await list(s, user, '&folder=main&recursive=maybe')).statusCode).toBe(400);
  });

  it('recursive=false without a folder selects the files at the root only', async () => {
    const res = await list(s, user, '&recursive=false');
    expect(names(res)).toEqual(['root.txt']);
    expect(res.json()).toMatchObject({ total_count: 1, total_size: 1 });
  });

  it('limit: default 1000, between 1 and 10000', async () => {
    expect((await list(s, user, '&limit=10000')).statusCode).toBe(200);
    for (const bad of ['0', '10001', '-1', 'ten', '1.5']) {
      const res = await list(s, user, `&limit=${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().message).toContain('limit');
    }
  });

  it('GET /v1/files/metadata/{key}: the record; 404 when missing', async () => {
    const key = keys['main/pictures/b.txt']!;
    const res = await s.asService({ method: 'GET', url: `/v1/files/metadata/${key}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ key, filename: 'b.txt', folder: 'main/pictures', size: 20, user_id: user });
    const missing = await s.asService({ method: 'GET', url: `/v1/files/metadata/storage/${user}/main/00000000000000000000000000000000_b.txt` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'file_not_found' });
  });
});

describe('pagination', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    for (let i = 0; i < 25; i++) await uploadFile(s, 'pg-u', `f${String(i).padStart(2, '0')}.txt`, Buffer.from(String(i)), i % 2 ? 'odd' : undefined);
  });
  afterAll(async () => s.close());

  it('pages 25 files by 10: 10 + 10 + 5, no duplicates, newest first, totals on every page', async () => {
    const seen: { key: string; created_at: string }[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(s, 'pg-u', `&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ total_count: 25, total_size: 10 + 15 * 2 });
      sizes.push(body.files.length);
      seen.push(...body.files);
      cursor = body.next_cursor;
    } while (cursor);
    expect(sizes).toEqual([10, 10, 5]);
    expect(new Set(seen.map((f) => f.key)).size).toBe(25);
    const times = seen.map((f) => f.created_at);
    expect([...times].sort().reverse()).toEqual(times);
    expect(seen[0]!.key).toMatch(/_f24\.txt$/);
    expect(seen[24]!.key).toMatch(/_f00\.txt$/);
  });

  it('pages within a folder too', async () => {
    const first = (await list(s, 'pg-u', '&folder=odd&limit=7')).json();
    expect(first).toMatchObject({ total_count: 12 });
    const second = (await list(s, 'pg-u', `&folder=odd&limit=7&cursor=${first.next_cursor}`)).json();
    expect(second.files).toHaveLength(5);
    expect(second.next_cursor).toBeNull();
  });

  it('limit defaults to 1000', async () => {
    for (let i = 0; i < 1001; i++) await s.app.ctx.store.files.insertFile(fileOf('pg-many', 'bulk', 1), { userId: 'pg-many', defaultQuotaBytes: 1e9 });
    const page = (await list(s, 'pg-many')).json();
    expect(page.files).toHaveLength(1000);
    expect(page.total_count).toBe(1001);
    expect(page.next_cursor).toEqual(expect.any(String));
    expect((await list(s, 'pg-many', `&cursor=${page.next_cursor}`)).json().files).toHaveLength(1);
  });

  it('sort=name|size, order, q: cursor pages in that order, totals over the matches; a cursor of another order is a 400', async () => {
    const walk = async (query: string) => {
      const seen: { filename: string; size: number }[] = [];
      let cursor: string | null = null;
      do {
        const res = await list(s, 'pg-u', `&limit=4${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.statusCode, query).toBe(200);
        seen.push(...res.json().files);
        cursor = res.json().next_cursor;
      } while (cursor);
      return seen;
    };
    const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
    expect((await walk('&sort=name')).map((f) => f.filename)).toEqual(names);
    expect((await walk('&sort=name&order=desc')).map((f) => f.filename)).toEqual([...names].reverse());
    const bySize = (await walk('&sort=size&order=asc')).map((f) => f.size);
    expect(bySize).toEqual([...bySize].sort((a, b) => a - b));
    expect(bySize).toHaveLength(25);
    const filtered = await list(s, 'pg-u', '&sort=name&q=F1');
    expect(filtered.json().files.map((f: { filename: string }) => f.filename)).toEqual(names.filter((n) => n.startsWith('f1')));
    expect(filtered.json()).toMatchObject({ total_count: 10, total_size: 20, next_cursor: null });
    const byName = (await list(s, 'pg-u', '&limit=2&sort=name')).json().next_cursor;
    const byDate = (await list(s, 'pg-u', '&limit=2')).json().next_cursor;
    for (const [cursor, query] of [[byName, ''], [byName, '&sort=name&order=desc'], [byName, '&sort=size&order=asc'], [byDate, '&sort=name'], [byDate, '&sort=date&order=asc']]) {
      const res = await list(s, 'pg-u', `&cursor=${cursor}${query}`);
      expect([res.statusCode, res.json().code], query).toEqual([400, 'invalid_cursor']);
    }
    for (const bad of ['&sort=type', '&order=up', `&q=${'x'.repeat(256)}`]) expect((await list(s, 'pg-u', bad)).statusCode, bad).toBe(400);
  });

  it('refuses a cursor it did not issue with 400', async () => {
    for (const bad of ['garbage!!', 'AAAA', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('[1,2]').toString('base64url'), 'x'.repeat(600)]) {
      const res = await list(s, 'pg-u', `&cursor=${encodeURIComponent(bad)}`);
      expect(res.statusCode, bad).toBe(400);
    }
  });
});

describe('DELETE /v1/files/{key}', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('removes bytes and record, frees the quota; later reads and deletes are 404', async () => {
    const rec = await uploadFile(s, 'del-u', 'gone soon.txt', Buffer.alloc(500, 7), 'tmp');
    expect(await storedBytes(s, rec.key)).toEqual(Buffer.alloc(500, 7));
    expect(await usage(s, 'del-u')).toMatchObject({ usedBytes: 500, fileCount: 1 });
    const res = await s.asService({ method: 'DELETE', url: `/v1/files/${encodeURI(rec.key)}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ deleted: true, key: rec.key });
    expect(await storedBytes(s, rec.key)).toBeNull();
    expect(await usage(s, 'del-u')).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect((await s.asService({ method: 'GET', url: `/v1/files/metadata/${encodeURI(rec.key)}` })).statusCode).toBe(404);
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${encodeURI(rec.key)}` })).statusCode).toBe(404);
    expect((await list(s, 'del-u')).json()).toMatchObject({ files: [], total_count: 0, total_size: 0 });
  });

  it('deleting one file leaves its neighbours alone', async () => {
    const a = await uploadFile(s, 'del-n', 'a.txt', Buffer.from('a'), 'x');
    const b = await uploadFile(s, 'del-n', 'b.txt', Buffer.from('b'), 'x');
    await s.asService({ method: 'DELETE', url: `/v1/files/${a.key}` });
    expect((await storedBytes(s, b.key))?.toString()).toBe('b');
    expect((await list(s, 'del-n')).json().total_count).toBe(1);
  });
});
