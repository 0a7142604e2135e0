/**
 * F-07: the quota counted bytes only, so one operator at zero quota could open 100k uploads
 * or store 1000 empty files per request. Now: open uploads per user (429 too_many_uploads),
 * files per user (413 file_count_exceeded) and file fields per one-request upload (413
 * too_many_files) are capped, and a quota refusal says how much is free and how much was asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { halfWritten, objectKeys } from './store-probes.js';
import { complete, init, initOne, multipartBody, putPart, usage } from './upload-kit.js';

const emptyFiles = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `e${i}.txt`, size: 0 }));

function formUpload(s: TestServer, userId: string, count: number) {
  const form = multipartBody(Array.from({ length: count }, (_, i) => ({ name: `f${i}`, filename: `empty-${i}.txt`, data: Buffer.alloc(0) })));
  return s.asService({ method: 'POST', url: `/v1/files?user_id=${userId}`, headers: { 'content-type': form.contentType }, payload: form.body });
}

describe('F-07 open uploads per user are capped (MAX_OPEN_UPLOADS=5)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_OPEN_UPLOADS: '5' });
  });
  afterAll(async () => s.close());

  it('zero-byte uploads count: the sixth open upload → 429 too_many_uploads, and a batch over the cap creates none', async () => {
    expect((await init(s, 'open-a', { mode: 'batch', files: emptyFiles(5) })).statusCode).toBe(201);
    const refused = await init(s, 'open-a', { mode: 'single', files: [{ name: 'one-more', size: 0 }] });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'too_many_uploads' });
    expect(refused.json().message).toMatch(/At most 5 uploads/);
    expect(await usage(s, 'open-a')).toMatchObject({ openUploads: 5, reservedBytes: 0 });

    const batch = await init(s, 'open-b', { mode: 'batch', files: emptyFiles(6) });
    expect(batch.statusCode).toBe(429);
    expect(await usage(s, 'open-b')).toMatchObject({ openUploads: 0 });
  });

  it('ten concurrent inits: exactly five are accepted (checked with the reservation, atomically)', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => init(s, 'open-c', { mode: 'single', files: [{ name: `c${i}`, size: 1 }] })));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(5);
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(5);
    expect(await usage(s, 'open-c')).toMatchObject({ openUploads: 5, reservedBytes: 5 });
  });

  it('completing or aborting an upload frees its slot', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await initOne(s, 'open-d', { name: `d${i}.txt`, size: 1 }, { mode: 'single' }));
    expect((await init(s, 'open-d', { mode: 'single', files: [{ name: 'x', size: 1 }] })).statusCode).toBe(429);
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/upload/${ids[0]}` })).statusCode).toBe(200);
    await putPart(s, ids[1]!, 1, Buffer.from('z'));
    expect((await complete(s, ids[1]!)).statusCode).toBe(201);
    expect(await usage(s, 'open-d')).toMatchObject({ openUploads: 3, fileCount: 1 });
    expect((await init(s, 'open-d', { mode: 'batch', files: emptyFiles(2) })).statusCode).toBe(201);
    expect((await init(s, 'open-d', { mode: 'single', files: [{ name: 'y', size: 1 }] })).statusCode).toBe(429);
  });
});

describe('F-07 files per user are capped (MAX_FILES_PER_USER=3); an open upload counts as the file it will be', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_FILES_PER_USER: '3' });
  });
  afterAll(async () => s.close());

  it('one-request and init uploads both stop at the cap with 413 file_count_exceeded; nothing is kept', async () => {
    expect((await formUpload(s, 'count-a', 2)).statusCode).toBe(201);
    const open = await initOne(s, 'count-a', { name: 'third.txt', size: 0 }, { mode: 'single' });
    const form = await formUpload(s, 'count-a', 1);
    expect(form.statusCode).toBe(413);
    expect(form.json()).toMatchObject({ statusCode: 413, code: 'file_count_exceeded' });
    const more = await init(s, 'count-a', { mode: 'single', files: [{ name: 'fourth.txt', size: 0 }] });
    expect(more.statusCode).toBe(413);
    expect(more.json().code).toBe('file_count_exceeded');
    expect(await usage(s, 'count-a')).toMatchObject({ fileCount: 2, openUploads: 1 });
    expect(await objectKeys(s, 'storage/count-a/')).toHaveLength(2);
    expect(await halfWritten(s)).toBe(0);

    await s.asService({ method: 'DELETE', url: `/v1/files/upload/${open}` });
    expect((await formUpload(s, 'count-a', 1)).statusCode).toBe(201);
    expect(await usage(s, 'count-a')).toMatchObject({ fileCount: 3, openUploads: 0 });
  });

  it('a one-request upload that would pass the cap midway is refused whole (all or nothing)', async () => {
    const res = await formUpload(s, 'count-b', 4);
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('file_count_exceeded');
    expect(await usage(s, 'count-b')).toMatchObject({ fileCount: 0, usedBytes: 0 });
    expect(await objectKeys(s, 'storage/count-b/')).toEqual([]);
  });
});

describe('F-07 file fields per POST /v1/files (MAX_FILES_PER_REQUEST=3)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ MAX_FILES_PER_REQUEST: '3' });
  });
  afterAll(async () => s.close());

  it('four empty files in one request → 413 too_many_files, no record and no file kept; three → 201', async () => {
    const res = await formUpload(s, 'req-a', 4);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large', code: 'too_many_files' });
    expect(await usage(s, 'req-a')).toMatchObject({ fileCount: 0 });
    expect(await objectKeys(s, 'storage/req-a/')).toEqual([]);
    const ok = await formUpload(s, 'req-a', 3);
    expect(ok.statusCode).toBe(201);
    expect(ok.json().files).toHaveLength(3);
  });
});

describe('F-07 quota_exceeded says how much is free and how much was asked', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PER_USER_QUOTA_GB: '0.000001' }); // 1073 bytes
  });
  afterAll(async () => s.close());

  it('init: "<free> bytes free, <asked> asked"; one-request: "<free> bytes free"', async () => {
    await initOne(s, 'msg-a', { name: 'hold', size: 1000 }, { mode: 'single' });
    const res = await init(s, 'msg-a', { mode: 'single', files: [{ name: 'big', size: 100 }] });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('quota_exceeded');
    expect(res.json().message).toBe('Storage quota exceeded: 73 bytes free, 100 asked');
    const form = multipartBody([{ name: 'f', filename: 'f.bin', data: Buffer.alloc(200) }]);
    const one = await s.asService({ method: 'POST', url: '/v1/files?user_id=msg-a', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(one.statusCode).toBe(413);
    expect(one.json().message).toMatch(/73 bytes free/);
  });
});
