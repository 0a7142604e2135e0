/**
 * POST /v1/files/init and the part routes: modes, part sizes, and the rules a part must
 * meet before it counts (exact size, checksums); a refused part leaves nothing behind. The
 * copies a part left are asked through the BlobStore port, so the suite runs on any store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { halfWritten, holdsCopy, watchPartWrites, type PartWrites } from './store-probes.js';
import { bytes, complete, init, initOne, md5b64, MiB, multipartBody, putPart, sha256, status, storedBytes } from './upload-kit.js';

describe('POST /v1/files/init', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('single: one part of the whole size, with the upload described', async () => {
    const res = await init(s, 'init-u', { mode: 'single', files: [{ name: 'a.txt', size: 10, mime: 'text/plain' }], folder: 'docs' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.uploadId).toBe(body.uploads[0].uploadId);
    expect(body.uploads).toEqual([
      { uploadId: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/), name: 'a.txt', size: 10, mime: 'text/plain', folder: 'docs', partSize: 10, partCount: 1, expiresAt: expect.any(String) },
    ]);
    const expires = Date.parse(body.uploads[0].expiresAt);
    expect(expires).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(body.uploads[0].expiresAt).toMatch(/Z$/);
  });

  it('chunked: 8 MiB parts by default, or the partSize asked for within [5 MiB, 512 MiB]', async () => {
    const dflt = (await init(s, 'init-u', { mode: 'chunked', files: [{ name: 'b', size: 20 * MiB }] })).json().uploads[0];
    expect(dflt).toMatchObject({ partSize: 8 * MiB, partCount: 3, mime: 'application/octet-stream', folder: null });
    const five = (await init(s, 'init-u', { mode: 'chunked', files: [{ name: 'b', size: 20 * MiB }], partSize: 5 * MiB })).json().uploads[0];
    expect(five).toMatchObject({ partSize: 5 * MiB, partCount: 4 });
    const max = await init(s, 'init-u', { mode: 'chunked', files: [{ name: 'b', size: 1 }], partSize: 512 * MiB });
    expect(max.statusCode).toBe(201);
    for (const partSize of [5 * MiB - 1, 512 * MiB + 1, 0, 5.5 * MiB + 0.5]) {
      const res = await init(s, 'init-u', { mode: 'chunked', files: [{ name: 'b', size: 20 * MiB }], partSize });
      expect(res.statusCode, String(partSize)).toBe(400);
      expect(res.json().message).toContain('body.partSize');
    }
  });

  it('batch: up to 1000 files, each its own upload; single and chunked take exactly one', async () => {
    const files = Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}.bin`, size: 1 }));
    const batch = await init(s, 'init-batch', { mode: 'batch', files });
    expect(batch.statusCode).toBe(201);
    expect(batch.json().uploads).toHaveLength(1000);
    expect(new Set(batch.json().uploads.map((u: { uploadId: string }) => u.uploadId)).size).toBe(1000);
    expect((await init(s, 'init-batch', { mode: 'batch', files: [...files, { name: 'x', size: 1 }] })).statusCode).toBe(400);
    expect((await init(s, 'init-u', { mode: 'single', files: [{ name: 'a', size: 1 }, { name: 'b', size: 1 }] })).statusCode).toBe(400);
    expect((await init(s, 'init-u', { mode: 'chunked', files: [] })).statusCode).toBe(400);
  });

  it('refuses bad sizes, modes, mimes and sha256 values, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ mode: 'single', files: [{ name: 'a', size: -1 }] }, 'body.files.0.size'],
      [{ mode: 'single', files: [{ name: 'a', size: 1.5 }] }, 'body.files.0.size'],
      [{ mode: 'single', files: [{ name: 'a', size: '10' }] }, 'body.files.0.size'],
      [{ mode: 'stream', files: [{ name: 'a', size: 1 }] }, 'body.mode'],
      [{ mode: 'single', files: [{ name: 'a', size: 1, sha256: 'abc' }] }, 'body.files.0.sha256'],
      [{ mode: 'single', files: [{ name: 'a', size: 1, mime: 'text/html\r\nX-Evil: 1' }] }, 'body.files.0.mime'],
    ];
    for (const [body, field] of cases) {
      const res = await init(s, 'init-u', body);
      expect(res.statusCode, field).toBe(400);
      expect(res.json().message).toContain(field);
    }
  });
});

describe('parts', () => {
  let s: TestServer;
  let writes: PartWrites;
  beforeAll(async () => {
    s = await startTestServer();
    writes = watchPartWrites(s);
  });
  afterAll(async () => {
    writes.restore();
    await s.close();
  });

  const P = 5 * MiB;
  const data = bytes(2 * P + 1000); // parts: 5 MiB, 5 MiB, 1000 bytes
  const part = (n: number) => data.subarray((n - 1) * P, Math.min(n * P, data.length));
  const newUpload = () => initOne(s, 'parts-u', { name: 'big.bin', size: data.length }, { partSize: P });

  /**
   * Nothing of a refused part is kept: not listed, nothing half-written, and on a store that
   * keeps copies apart no copy of it held. (On S3 a refused copy is the part number's one copy
   * until the next one replaces it or the upload ends; no record names it, so no completion
   * can use it: complete asks for the parts the record lacks.)
   */
  const expectNothingKept = async (id: string, partNumber: number) => {
    const st = (await status(s, id)).json();
    expect(st.parts.map((p: { partNumber: number }) => p.partNumber)).not.toContain(partNumber);
    if (s.app.ctx.blobs.capabilities.distinctPartCopies) for (const w of writes.of(id, partNumber)) expect(await holdsCopy(s, w)).toBe(false);
    expect(await halfWritten(s)).toBe(0);
  };

  it('accepts parts in any order and answers with their size and sha256', async () => {
    const id = await newUpload();
    for (const n of [3, 1, 2]) {
      const res = await putPart(s, id, n, part(n));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ uploadId: id, partNumber: n, size: part(n).length, sha256: sha256(part(n)) });
    }
    const st = (await status(s, id)).json();
    expect(st).toMatchObject({ uploadId: id, state: 'open', partCount: 3, partSize: P, receivedBytes: data.length, key: null });
    expect(st.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2, 3]);
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json().sha256).toBe(sha256(data));
  });

  it('a part longer than partSize is refused with 413 part_too_large (declared by Content-Length) and not kept', async () => {
    const id = await newUpload();
    const long = bytes(P + 1);
    const declared = await putPart(s, id, 1, long);
    expect(declared.statusCode).toBe(413);
    expect(declared.json()).toMatchObject({ statusCode: 413, code: 'part_too_large' });
    // (The chunked-transfer form is tested over a real socket in transport.test.ts.)
    const lastTooLong = await putPart(s, id, 3, bytes(1001));
    expect(lastTooLong.statusCode).toBe(413);
    await expectNothingKept(id, 1);
    await expectNothingKept(id, 3);
  });

  it('a part shorter than partSize (except the last) is refused with 400 and not kept', async () => {
    const id = await newUpload();
    const res = await putPart(s, id, 2, bytes(P - 1));
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('part_size_mismatch');
    expect((await putPart(s, id, 3, bytes(999))).statusCode).toBe(400);
    expect((await putPart(s, id, 1, Buffer.alloc(0))).statusCode).toBe(400);
    await expectNothingKept(id, 2);
    await expectNothingKept(id, 3);
  });

  it('verifies X-Checksum-SHA256 (hex or base64) and Content-MD5; a mismatch is 400 checksum_mismatch and not kept', async () => {
    const id = await newUpload();
    const p1 = part(1);
    const hex = sha256(p1);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect((await putPart(s, id, 1, p1, { 'x-checksum-sha256': hex.toUpperCase() })).statusCode).toBe(200);
    expect((await putPart(s, id, 1, p1, { 'x-checksum-sha256': b64 })).statusCode).toBe(200);
    expect((await putPart(s, id, 1, p1, { 'content-md5': md5b64(p1) })).statusCode).toBe(200);
    expect(await holdsCopy(s, writes.of(id, 1).at(-1)!)).toBe(true); // the copy that counts is held

    const p3 = part(3);
    const wrongSha = await putPart(s, id, 3, p3, { 'x-checksum-sha256': sha256('other') });
    expect(wrongSha.statusCode).toBe(400);
    expect(wrongSha.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'checksum_mismatch' });
    await expectNothingKept(id, 3);
    const wrongB64 = await putPart(s, id, 3, p3, { 'x-checksum-sha256': Buffer.from(sha256('x'), 'hex').toString('base64') });
    expect(wrongB64.json().code).toBe('checksum_mismatch');
    const wrongMd5 = await putPart(s, id, 3, p3, { 'content-md5': md5b64(Buffer.from('x')) });
    expect(wrongMd5.statusCode).toBe(400);
    expect(wrongMd5.json().code).toBe('checksum_mismatch');
    await expectNothingKept(id, 3);

    const malformed = await putPart(s, id, 3, p3, { 'x-checksum-sha256': 'not-a-digest' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('invalid_checksum');
    await expectNothingKept(id, 3);
  });

  it('a part sent again replaces the earlier copy (the last copy wins)', async () => {
    const id = await newUpload();
    const wrong = bytes(P);
    expect((await putPart(s, id, 1, wrong)).statusCode).toBe(200);
    for (const n of [1, 2, 3]) expect((await putPart(s, id, n, part(n))).statusCode).toBe(200);
    const st = (await status(s, id)).json();
    expect(st.parts[0].sha256).toBe(sha256(part(1)));
    expect(st.receivedBytes).toBe(data.length);
    // The replaced copy is dropped from the store; the one recorded stays.
    expect(await Promise.all(writes.of(id, 1).map((w) => holdsCopy(s, w)))).toEqual([false, true]);
    expect((await complete(s, id)).json().sha256).toBe(sha256(data));
  });

  it('two copies of one part at once: the digest recorded is always that of the bytes kept', async () => {
    const id = await initOne(s, 'parts-u', { name: 'twice.bin', size: 1000 }, { mode: 'single' });
    const uploads = s.app.ctx.store.uploads;
    const original = uploads.putPart.bind(uploads);
    // Stretch the moment between storing the first copy and recording it, as a slow disk
    // would: the first is recorded only after the second has been stored and recorded.
    let calls = 0;
    let firstStored: () => void = () => undefined;
    const firstArrived = new Promise<void>((r) => (firstStored = r));
    let secondDone: () => void = () => undefined;
    const second = new Promise<void>((r) => (secondDone = r));
    uploads.putPart = async (...args) => {
      const call = ++calls;
      if (call === 1) {
        firstStored();
        await second;
      }
      const outcome = await original(...args);
      if (call === 2) secondDone();
      return outcome;
    };
    try {
      const [a, b] = [bytes(1000), bytes(1000)];
      const first = putPart(s, id, 1, a);
      await firstArrived;
      expect((await Promise.all([first, putPart(s, id, 1, b)])).map((r) => r.statusCode)).toEqual([200, 200]);
    } finally {
      uploads.putPart = original;
    }
    const recorded = (await status(s, id)).json().parts[0].sha256;
    const copies = writes.of(id, 1);
    expect(copies).toHaveLength(2);
    const held = await Promise.all(copies.map((w) => holdsCopy(s, w)));
    expect(held.filter(Boolean)).toHaveLength(1);
    const heldSha = copies[held.indexOf(true)]!.written!.sha256;
    if (s.app.ctx.blobs.capabilities.distinctPartCopies) {
      // The file is the copy whose digest was recorded, whichever copy that was; the other is dropped.
      expect(heldSha).toBe(recorded);
    } else {
      // S3 keeps the copy that reached it last (the second), the record the one recorded last
      // (the first): they differ. Complete notices, names the part to send again, makes no file.
      expect([heldSha, recorded]).toEqual([copies[1]!.written!.sha256, copies[0]!.written!.sha256]);
      const refused = await complete(s, id);
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'upload_incomplete', missing_parts: [1] });
      expect((await status(s, id)).json()).toMatchObject({ state: 'open' });
      const again = bytes(1000);
      expect((await putPart(s, id, 1, again)).statusCode).toBe(200);
      expect((await status(s, id)).json().parts[0].sha256).toBe(sha256(again));
    }
    const final = (await status(s, id)).json().parts[0].sha256;
    const done = (await complete(s, id)).json();
    expect(done.sha256).toBe(final);
    expect(sha256((await storedBytes(s, done.key))!)).toBe(final);
  });

  it('refuses part numbers outside 1..partCount and unknown uploads', async () => {
    const id = await newUpload();
    for (const n of [0, 4, -1]) expect((await putPart(s, id, n, bytes(10))).statusCode).toBe(400);
    expect((await s.asService({ method: 'PUT', url: `/v1/files/part?uploadId=${id}&partNumber=x`, payload: Buffer.from('x') })).statusCode).toBe(400);
    expect((await s.asService({ method: 'PUT', url: `/v1/files/part?uploadId=${id}`, payload: Buffer.from('x') })).statusCode).toBe(400);
    const unknown = await putPart(s, 'AAAAAAAAAAAAAAAAAAAAAAAA', 1, bytes(10));
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('upload_not_found');
    expect(await halfWritten(s)).toBe(0);
  });

  it('takes POST with raw bytes, and POST multipart/form-data with uploadId, partNumber and the file', async () => {
    const id = await newUpload();
    const raw = await s.asService({ method: 'POST', url: `/v1/files/part?uploadId=${id}&partNumber=1`, headers: { 'content-type': 'application/octet-stream' }, payload: part(1) });
    expect(raw.statusCode).toBe(200);
    const form = multipartBody([
      { name: 'uploadId', value: id },
      { name: 'partNumber', value: '2' },
      { name: 'file', filename: 'blob', data: part(2) },
    ]);
    const mp = await s.asService({ method: 'POST', url: '/v1/files/part', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(mp.statusCode).toBe(200);
    expect(mp.json()).toEqual({ uploadId: id, partNumber: 2, size: P, sha256: sha256(part(2)) });
    const tooLong = multipartBody([{ name: 'uploadId', value: id }, { name: 'partNumber', value: '3' }, { name: 'file', filename: 'blob', data: bytes(1001) }]);
    const refused = await s.asService({ method: 'POST', url: '/v1/files/part', headers: { 'content-type': tooLong.contentType }, payload: tooLong.body });
    expect(refused.statusCode).toBe(413);
    expect(refused.json().code).toBe('part_too_large');
    await expectNothingKept(id, 3);
    expect((await putPart(s, id, 3, part(3))).statusCode).toBe(200);
    expect((await complete(s, id)).json().sha256).toBe(sha256(data));
  });

  it('refuses parts once the upload is completed (409) and after it is aborted (404)', async () => {
    const id = await initOne(s, 'parts-u', { name: 'x', size: 3 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('abc'));
    expect((await complete(s, id)).statusCode).toBe(201);
    const late = await putPart(s, id, 1, Buffer.from('xyz'));
    expect(late.statusCode).toBe(409);
    expect(late.json().code).toBe('upload_not_open');
    const other = await initOne(s, 'parts-u', { name: 'y', size: 3 }, { mode: 'single' });
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/upload/${other}` })).statusCode).toBe(200);
    expect((await putPart(s, other, 1, Buffer.from('abc'))).statusCode).toBe(404);
  });
});

describe('a store that keeps one copy per part number (S3: a later copy replaces the earlier one)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    // The local store, told to behave as S3 does for this rule: the service's side of it.
    (s.app.ctx.blobs.capabilities as { distinctPartCopies: boolean }).distinctPartCopies = false;
  });
  afterAll(async () => s.close());

  it('a refused copy makes the part missing (its earlier copy is gone), so the client sends it again', async () => {
    const P = 5 * MiB;
    const data = bytes(P + 10);
    const id = await initOne(s, 'one-copy', { name: 'f.bin', size: data.length }, { partSize: P });
    expect((await putPart(s, id, 1, data.subarray(0, P))).statusCode).toBe(200);
    expect((await putPart(s, id, 2, data.subarray(P))).statusCode).toBe(200);
    const bad = await putPart(s, id, 1, data.subarray(0, P), { 'x-checksum-sha256': '0'.repeat(64) });
    expect(bad.json()).toMatchObject({ code: 'checksum_mismatch' });
    expect((await status(s, id)).json().parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([2]);
    expect((await complete(s, id)).json()).toMatchObject({ code: 'upload_incomplete', missing_parts: [1] });
    expect((await putPart(s, id, 1, data.subarray(0, P))).statusCode).toBe(200);
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json().sha256).toBe(sha256(data));
  });
});
