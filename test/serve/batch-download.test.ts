/**
 * ZIP batches: the token route's checks, the archive checked by Debian's `unzip -t` and by
 * yauzl with contents compared byte for byte, names, reuse, deletions and expiry; a stored
 * batch's Content-Length equal to the bytes sent, and a transfer cut short (never a silently
 * wrong length) when an entry no longer matches its record.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { hashToken } from '../../src/serve/batches.js';
import { sqliteFile, startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { listen, patterned, putBytes, readZip, sha256, storeFile, unzipTest } from './serve-helpers.js';

let s: TestServer;
let base: string;
let work: string;
const files: { record: FileRecord; body: Buffer; expected: string }[] = [];

beforeAll(async () => {
  s = await startTestServer();
  ({ base } = await listen(s));
  work = await tempDir('sl-zip-');
  const add = async (name: string, body: Buffer, folder: string, expected: string) => {
    files.push({ record: await storeFile(s, 'alice', name, body, { folder, mime: 'application/octet-stream' }), body, expected });
  };
  await add('report.pdf', patterned(3 << 20, 11), 'docs', 'docs/report.pdf');
  await add('report.pdf', Buffer.from('second upload, same name'), 'docs', 'docs/report (2).pdf');
  await add('Report.pdf', Buffer.from('differs only in case'), 'docs', 'docs/Report (3).pdf');
  await add('notes', Buffer.from('no extension'), '', 'notes');
  await add('notes', Buffer.from('no extension again'), '', 'notes (2)');
  await add('数据 😀.txt', Buffer.from('unicode name'), '文件/深', '文件/深/数据 😀.txt');
  await add('c:evil.txt', Buffer.from('a drive-letter lookalike'), '', 'c_evil.txt');
  await add('empty.bin', Buffer.alloc(0), 'docs/sub', 'docs/sub/empty.bin');
  await add('text.txt', Buffer.from('compress me '.repeat(10_000)), '', 'text.txt');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
  await s.close();
});

const keys = () => files.map((f) => f.record.key);
const create = (payload: Record<string, unknown>, token?: string) =>
  token ? s.asBearer(token, { method: 'POST', url: '/v1/files/batch-download', payload }) : s.asService({ method: 'POST', url: '/v1/files/batch-download', payload });

/** The ZIP over a real socket: what Node's HTTP client received, and whether the body was cut. */
async function fetchZip(token: string, name = 'a.zip'): Promise<{ file: string; headers: http.IncomingHttpHeaders; status: number; bytes: number; cut: boolean }> {
  const got = await new Promise<{ res: http.IncomingMessage; body: Buffer; cut: boolean }>((resolve, reject) => {
    http.get(`${base}/v1/files/batch-download/${token}`, (res) => {
      const chunks: Buffer[] = [];
      const done = (cut: boolean) => resolve({ res, body: Buffer.concat(chunks), cut });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(false));
      res.on('error', () => done(true)); // "aborted": fewer bytes than Content-Length
    }).on('error', reject);
  });
  const file = path.join(work, `${Date.now()}-${Math.random().toString(36).slice(2)}-${name}`);
  await fs.writeFile(file, got.body);
  return { file, headers: got.res.headers, status: got.res.statusCode ?? 0, bytes: got.body.length, cut: got.cut };
}

describe('POST /v1/files/batch-download', () => {
  it('201 {token, url, expires_at, count, total_size}', async () => {
    const res = await create({ keys: keys() }, await s.tokenFor('alice'));
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.url).toBe(`http://files.test/v1/files/batch-download/${body.token}`);
    expect(body.count).toBe(files.length);
    expect(body.total_size).toBe(files.reduce((n, f) => n + f.body.length, 0));
    const ttl = (Date.parse(body.expires_at) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(15 * 60 - 5);
    expect(ttl).toBeLessThanOrEqual(15 * 60);
  });

  it('the token is stored only as its sha256', async () => {
    const { token } = (await create({ keys: keys().slice(0, 1) })).json();
    expect(await s.app.ctx.store.batches.getBatch(hashToken(token), Math.floor(Date.now() / 1000))).not.toBeNull();
    // What SQLite holds at rest: no row carries the token itself.
    const db = new Database(sqliteFile(s.config), { readonly: true });
    try {
      const rows = db.prepare('SELECT * FROM batch_downloads').all() as Record<string, unknown>[];
      expect(rows.some((r) => r.token_hash === hashToken(token))).toBe(true);
      expect(JSON.stringify(rows)).not.toContain(token);
    } finally {
      db.close();
    }
  });

  it('an empty list → 400; no credentials → 401', async () => {
    expect((await create({ keys: [] })).statusCode).toBe(400);
    const anon = await s.app.inject({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: keys() } });
    expect(anon.statusCode).toBe(401);
  });

  it("missing or someone else's keys → 404 listing them", async () => {
    const bobs = await storeFile(s, 'bob', 'bob.txt', 'bob');
    const unknown = `storage/alice/${'0'.repeat(32)}_nope.txt`;
    const res = await create({ keys: [keys()[0], unknown, bobs.key, 'garbage'] }, await s.tokenFor('alice'));
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('files_not_found');
    expect(res.json().missing).toEqual([unknown, bobs.key, 'garbage']);
    // A service naming alice gets the same answer for bob's key.
    const svc = await create({ keys: [bobs.key], user_id: 'alice' });
    expect(svc.json().missing).toEqual([bobs.key]);
  });

  it("a user naming another user_id → 403; a bad name → 400", async () => {
    expect((await create({ keys: keys(), user_id: 'bob' }, await s.tokenFor('alice'))).statusCode).toBe(403);
    expect((await create({ keys: keys(), name: 'a/b' })).statusCode).toBe(400);
  });

  it('limits: BATCH_MAX_FILES and BATCH_MAX_BYTES → 413', async () => {
    const limited = await startTestServer({ BATCH_MAX_FILES: '2', BATCH_MAX_BYTES: '10' });
    try {
      const a = await storeFile(limited, 'u1', 'a.txt', '12345');
      const b = await storeFile(limited, 'u1', 'b.txt', '12345');
      const c = await storeFile(limited, 'u1', 'c.txt', '1');
      const many = await limited.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: [a.key, b.key, c.key] } });
      expect(many.statusCode).toBe(413);
      expect(many.json().code).toBe('too_many_files');
      const big = await limited.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: [a.key, b.key] } });
      expect(big.statusCode).toBe(201);
      const d = await storeFile(limited, 'u1', 'd.txt', '123456');
      const tooBig = await limited.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: [a.key, d.key] } });
      expect(tooBig.statusCode).toBe(413);
      expect(tooBig.json().code).toBe('batch_too_large');
    } finally {
      await limited.close();
    }
  });
});

describe('GET /v1/files/batch-download/{token}', () => {
  it('streams a valid stored ZIP: unzip -t and yauzl agree, contents byte for byte, names unique', async () => {
    const { token } = (await create({ keys: keys(), name: 'photos' })).json();
    const zip = await fetchZip(token);
    expect(zip.status).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    expect(zip.headers['content-disposition']).toBe('attachment; filename="photos.zip"');
    expect(zip.headers['x-content-type-options']).toBe('nosniff');
    // Known before the first byte (unicode names, duplicates made unique, an empty file).
    expect(zip.headers['transfer-encoding']).toBeUndefined();
    expect(Number(zip.headers['content-length'])).toBe(zip.bytes);
    expect(zip.cut).toBe(false);
    expect(await unzipTest(zip.file)).toMatch(/No errors detected/);
    const entries = await readZip(zip.file);
    expect(entries.map((e) => e.name)).toEqual(files.map((f) => f.expected));
    for (const [i, e] of entries.entries()) {
      expect(e.method, e.name).toBe(0);
      expect(e.sha256, e.name).toBe(sha256(files[i]!.body));
      expect(e.data!.equals(files[i]!.body)).toBe(true);
    }
  });

  it('deflate when asked: smaller, same bytes', async () => {
    const { token } = (await create({ keys: keys(), compression: 'deflate' })).json();
    const zip = await fetchZip(token);
    expect(zip.headers['content-length']).toBeUndefined(); // a compressed length is not known ahead
    expect(await unzipTest(zip.file)).toMatch(/No errors detected/);
    const entries = await readZip(zip.file);
    const text = entries.find((e) => e.name === 'text.txt')!;
    expect(text.method).toBe(8);
    expect(text.compressedSize).toBeLessThan(text.size / 10);
    for (const [i, e] of entries.entries()) expect(e.sha256).toBe(sha256(files[i]!.body));
  });

  it('the token is reusable until it expires', async () => {
    const { token } = (await create({ keys: keys().slice(0, 2) })).json();
    const first = await readZip((await fetchZip(token)).file);
    const second = await readZip((await fetchZip(token)).file);
    expect(second.map((e) => e.sha256)).toEqual(first.map((e) => e.sha256));
  });

  it('files deleted before the download starts are left out; the length still matches, the archive is valid', async () => {
    const a = await storeFile(s, 'alice', 'keep.txt', 'keep');
    const b = await storeFile(s, 'alice', 'delete-me.txt', 'gone');
    const d = await storeFile(s, 'alice', 'keep-too.txt', 'kept');
    const { token } = (await create({ keys: [a.key, b.key, d.key] })).json();
    await s.app.ctx.store.files.deleteFile(b.key);
    const zip = await fetchZip(token);
    expect(Number(zip.headers['content-length'])).toBe(zip.bytes);
    expect(await unzipTest(zip.file)).toMatch(/No errors detected/);
    const entries = await readZip(zip.file);
    expect(entries.map((e) => [e.name, e.data!.toString()])).toEqual([
      ['keep.txt', 'keep'],
      ['keep-too.txt', 'kept'],
    ]);
  });

  it('an entry whose bytes vanished or no longer match its record cuts the transfer short of the announced length', async () => {
    const a = await storeFile(s, 'alice', 'first.txt', 'first');
    const vanished = await storeFile(s, 'alice', 'vanish.txt', 'vanished');
    const damaged = await storeFile(s, 'alice', 'damaged.txt', 'eight by');
    await s.app.ctx.blobs.delete(vanished.key);
    await putBytes(s, damaged.key, 'eight bytes and more'.repeat(200)); // longer than the whole archive announced
    for (const broken of [vanished, damaged]) {
      const { token } = (await create({ keys: [a.key, broken.key] })).json();
      const zip = await fetchZip(token);
      expect(zip.status).toBe(200);
      expect(zip.cut, broken.filename).toBe(true);
      expect(zip.bytes, broken.filename).toBeLessThan(Number(zip.headers['content-length']));
    }
    expect((await create({ keys: [a.key] })).statusCode).toBe(201);
  });

  it('a stored name no ZIP entry can carry is refused before any byte (500 JSON), and the server keeps answering', async () => {
    const ok = await storeFile(s, 'alice', 'before.txt', 'before');
    // A record from before the name rules: written straight to the store, as old data would be.
    const legacy: FileRecord = { ...ok, id: '1'.repeat(32), key: `storage/alice/${'1'.repeat(32)}_..`, filename: '..' };
    await putBytes(s, legacy.key, 'before');
    await s.app.ctx.store.files.insertFile(legacy, s.app.ctx.files.quotaCheck('alice'));
    const { token } = (await create({ keys: [ok.key, legacy.key] })).json();
    const res = await s.app.inject({ method: 'GET', url: `/v1/files/batch-download/${token}` });
    expect(res.statusCode).toBe(500);
    expect(res.json().code).toBe('internal_error');
    expect(res.body).not.toContain('..');
    expect((await create({ keys: [ok.key] })).statusCode).toBe(201);
  });

  it('many entries (empty ones and repeated names among them): Content-Length equals the bytes, unzip -t passes', async () => {
    // 1,000 entries (a central directory past 64 KiB) are in batch-archive.test.ts, without uploads.
    const many: string[] = [];
    for (let i = 0; i < 48; i++) {
      const body = i % 7 === 0 ? '' : `entry ${i} `.repeat(i);
      many.push((await storeFile(s, 'alice', i % 3 === 0 ? 'same.txt' : `f${i}.txt`, body, { folder: 'many' })).key);
    }
    const { token } = (await create({ keys: many })).json();
    const zip = await fetchZip(token);
    expect(Number(zip.headers['content-length'])).toBe(zip.bytes);
    expect(await unzipTest(zip.file)).toMatch(/No errors detected/);
    const entries = await readZip(zip.file);
    expect(entries).toHaveLength(48);
    expect(entries.filter((e) => e.name.startsWith('many/same')).length).toBe(16);
  });

  it('an expired, unknown or malformed token → 404 JSON', async () => {
    const token = 'A'.repeat(43);
    const now = Math.floor(Date.now() / 1000);
    await s.app.ctx.store.batches.createBatch({
      tokenHash: hashToken(token), userId: 'alice', name: 'old.zip', compression: 'store',
      fileIds: files.map((f) => f.record.id), fileCount: files.length, totalSize: 1, createdAt: now - 1000, expiresAt: now - 1,
    }, 50);
    for (const t of [token, 'B'.repeat(43), 'short', '..%2f..%2fetc']) {
      const res = await s.app.inject({ method: 'GET', url: `/v1/files/batch-download/${t}` });
      expect(res.statusCode, t).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json().code).toMatch(/not_found/);
    }
  });
});
