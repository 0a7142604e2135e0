/**
 * POST /v1/files/complete, GET/DELETE /v1/files/upload/{id}: the file appears whole with
 * the file record of docs/api.md, or not at all with the upload left open to be fixed; a retry
 * answers 200 with the same record. What the store holds is asked through the BlobStore port,
 * so the suite runs on any store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { halfWritten, holdsCopy, objectKeys, watchPartWrites } from './store-probes.js';
import { bytes, complete, initOne, list, MiB, putPart, sha256, status, storedBytes, uploadAreaIds, usage } from './upload-kit.js';

describe('complete', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const P = 5 * MiB;

  it('joins the parts into the file record docs/api.md describes, the object under its key', async () => {
    const data = bytes(2 * P + 7);
    const id = await initOne(s, 'cmp-u', { name: 'movie 🎬.mp4', size: data.length, mime: 'video/mp4' }, { partSize: P, folder: 'main/videos' });
    for (const n of [1, 2, 3]) expect((await putPart(s, id, n, data.subarray((n - 1) * P, n * P))).statusCode).toBe(200);
    const before = Date.now();
    const res = await complete(s, id);
    expect(res.statusCode).toBe(201);
    const rec = res.json();
    expect(Object.keys(rec).sort()).toEqual(['created_at', 'etag', 'filename', 'folder', 'key', 'mime', 'sha256', 'size', 'url', 'user_id']);
    expect(rec).toMatchObject({ filename: 'movie 🎬.mp4', size: data.length, mime: 'video/mp4', sha256: sha256(data), folder: 'main/videos', user_id: 'cmp-u' });
    expect(rec.key).toMatch(/^storage\/cmp-u\/main\/videos\/[0-9a-f]{32}_movie 🎬\.mp4$/);
    expect(rec.etag).toBe(`"${sha256(data)}"`);
    expect(rec.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Date.parse(rec.created_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(rec.url).toBe(`http://files.test/${rec.key.split('/').map(encodeURIComponent).join('/')}`);
    expect((await storedBytes(s, rec.key))!.equals(data)).toBe(true);
    // The upload area and anything half-written are gone; the status shows the finished key.
    expect(await uploadAreaIds(s)).not.toContain(id);
    expect(await halfWritten(s)).toBe(0);
    expect((await status(s, id)).json()).toMatchObject({ state: 'completed', key: rec.key });
  });

  it('a file with no folder has folder null and key storage/{user}/{id}_{name}; meta renames it', async () => {
    const id = await initOne(s, 'cmp-u', { name: 'a.txt', size: 2 }, { mode: 'single', folder: 'ignored' });
    await putPart(s, id, 1, Buffer.from('hi'));
    const rec = (await complete(s, id, { meta: { filename: 'b.txt', folder: null } })).json();
    expect(rec).toMatchObject({ filename: 'b.txt', folder: 'ignored' });
    const id2 = await initOne(s, 'cmp-u', { name: 'c.txt', size: 2 }, { mode: 'single' });
    await putPart(s, id2, 1, Buffer.from('hi'));
    const rec2 = (await complete(s, id2, { meta: { filename: 'd.txt', folder: 'elsewhere/x' } })).json();
    expect(rec2).toMatchObject({ filename: 'd.txt', folder: 'elsewhere/x' });
    const id3 = await initOne(s, 'cmp-u', { name: 'e.txt', size: 0 }, { mode: 'single' });
    expect((await putPart(s, id3, 1, Buffer.alloc(0))).statusCode).toBe(200);
    const rec3 = (await complete(s, id3)).json();
    expect(rec3).toMatchObject({ folder: null, size: 0, sha256: sha256('') });
    expect(rec3.key).toMatch(/^storage\/cmp-u\/[0-9a-f]{32}_e\.txt$/);
  });

  it('missing parts: 400 upload_incomplete listing them, upload left open; once sent, complete succeeds', async () => {
    const data = bytes(2 * P + 1);
    const id = await initOne(s, 'cmp-u', { name: 'm.bin', size: data.length }, { partSize: P });
    await putPart(s, id, 2, data.subarray(P, 2 * P));
    const res = await complete(s, id);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'upload_incomplete', missing_parts: [1, 3] });
    expect((await status(s, id)).json().state).toBe('open');
    expect((await list(s, 'cmp-u', '&folder=nowhere')).json().total_count).toBe(0);
    await putPart(s, id, 1, data.subarray(0, P));
    await putPart(s, id, 3, data.subarray(2 * P));
    expect((await complete(s, id)).statusCode).toBe(201);
  });

  it('a sha256 mismatch (declared at init or at complete) is 400, nothing stored, the upload stays open to be fixed', async () => {
    const good = bytes(1000);
    const id = await initOne(s, 'cmp-sha', { name: 's.bin', size: 1000, sha256: sha256(good) }, { mode: 'single' });
    await putPart(s, id, 1, bytes(1000));
    const bad = await complete(s, id);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('checksum_mismatch');
    expect((await status(s, id)).json().state).toBe('open');
    await putPart(s, id, 1, good);
    expect((await complete(s, id)).json().sha256).toBe(sha256(good));

    const data = bytes(P + 10);
    const multi = await initOne(s, 'cmp-sha', { name: 't.bin', size: data.length }, { partSize: P });
    await putPart(s, multi, 1, data.subarray(0, P));
    await putPart(s, multi, 2, bytes(10)); // wrong bytes, right size
    const wrong = await complete(s, multi, { sha256: sha256(data) });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().code).toBe('checksum_mismatch');
    expect((await status(s, multi)).json()).toMatchObject({ state: 'open', receivedBytes: data.length });
    expect((await list(s, 'cmp-sha')).json().total_count).toBe(1); // only the first file
    expect(await objectKeys(s, 'storage/cmp-sha/')).toHaveLength(1); // the refused assembly left no object
    expect(await usage(s, 'cmp-sha')).toMatchObject({ usedBytes: 1000, reservedBytes: data.length });
    await putPart(s, multi, 2, data.subarray(P));
    expect((await complete(s, multi, { sha256: sha256(data) })).statusCode).toBe(201);
    expect(await usage(s, 'cmp-sha')).toMatchObject({ usedBytes: 1000 + data.length, reservedBytes: 0 });
  });

  it('is idempotent: a retry answers 200 with the same record and makes no second file', async () => {
    const id = await initOne(s, 'cmp-idem', { name: 'i.txt', size: 5 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('hello'));
    const first = await complete(s, id);
    const again = await complete(s, id, { meta: { filename: 'other.txt' } });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect((await list(s, 'cmp-idem')).json()).toMatchObject({ total_count: 1, total_size: 5 });
  });

  it('a retry after the file was deleted is 404, not a resurrected record', async () => {
    const id = await initOne(s, 'cmp-idem2', { name: 'i.txt', size: 5 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('hello'));
    const rec = (await complete(s, id)).json();
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${encodeURI(rec.key)}` })).statusCode).toBe(200);
    expect((await complete(s, id)).statusCode).toBe(404);
  });

  it('unknown or malformed uploadIds: 404 / 400', async () => {
    expect((await complete(s, 'AAAAAAAAAAAAAAAAAAAAAAAA')).statusCode).toBe(404);
    expect((await complete(s, '../../etc')).statusCode).toBe(400);
    expect((await s.asService({ method: 'POST', url: '/v1/files/complete', payload: {} })).statusCode).toBe(400);
  });
});

describe('status and abort', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('GET /v1/files/upload/{id} lists the parts received so far, for resuming', async () => {
    const P = 5 * MiB;
    const id = await initOne(s, 'st-u', { name: 'r.bin', size: 3 * P }, { partSize: P });
    const p2 = bytes(P);
    await putPart(s, id, 2, p2);
    const st = await status(s, id);
    expect(st.statusCode).toBe(200);
    expect(st.json()).toEqual({
      uploadId: id, state: 'open', name: 'r.bin', size: 3 * P, mime: 'application/octet-stream', folder: null,
      partSize: P, partCount: 3, receivedBytes: P, parts: [{ partNumber: 2, size: P, sha256: sha256(p2) }],
      expiresAt: expect.any(String), key: null,
    });
  });

  it('DELETE /v1/files/upload/{id} aborts: parts removed, reservation freed, then 404', async () => {
    const id = await initOne(s, 'ab-u', { name: 'a.bin', size: 6 * MiB }, { partSize: 5 * MiB });
    const writes = watchPartWrites(s);
    try {
      await putPart(s, id, 1, bytes(5 * MiB));
    } finally {
      writes.restore();
    }
    const [part1] = writes.of(id, 1);
    expect(await usage(s, 'ab-u')).toMatchObject({ reservedBytes: 6 * MiB });
    expect(await uploadAreaIds(s)).toContain(id);
    expect(await holdsCopy(s, part1!)).toBe(true);
    const res = await s.asService({ method: 'DELETE', url: `/v1/files/upload/${id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ uploadId: id, aborted: true });
    expect(await usage(s, 'ab-u')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
    expect(await uploadAreaIds(s)).not.toContain(id);
    expect(await holdsCopy(s, part1!)).toBe(false);
    expect((await status(s, id)).statusCode).toBe(404);
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/upload/${id}` })).statusCode).toBe(404);
  });

  it('aborting a completed upload is 409 and leaves the file alone', async () => {
    const id = await initOne(s, 'ab-u', { name: 'done.txt', size: 1 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('x'));
    const rec = (await complete(s, id)).json();
    const res = await s.asService({ method: 'DELETE', url: `/v1/files/upload/${id}` });
    expect(res.statusCode).toBe(409);
    expect((await storedBytes(s, rec.key))?.toString()).toBe('x');
  });
});
