/**
 * Parts and completes over a real socket: chunked transfer, parallel parts of one upload,
 * a client that disconnects mid-part, and two completes racing. What the store holds, and
 * whether a part is still streaming in, is asked through the BlobStore port (any store).
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { halfWritten, holdsCopy, objectKeys, watchPartWrites, type PartWrites } from './store-probes.js';
import { bytes, eventually, initOne, list, listen, MiB, request, sha256, status, storedBytes, uploadAreaIds } from './upload-kit.js';

/** Waits until every part write of the upload has ended (succeeded or failed). */
const settled = (writes: PartWrites, id: string) => Promise.all(writes.of(id).map((w) => w.settled));

describe('parts and completes over a real socket', () => {
  let s: TestServer;
  let port: number;
  let writes: PartWrites;
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
    writes = watchPartWrites(s);
  });
  afterAll(async () => {
    writes.restore();
    await s.close();
  });

  const P = 5 * MiB;
  const auth = () => ({ 'x-service-token': s.serviceToken });
  const put = (id: string, n: number, body: Buffer | Readable, headers: Record<string, string | number> = {}) =>
    request(port, { method: 'PUT', path: `/v1/files/part?uploadId=${id}&partNumber=${n}`, headers: { ...auth(), 'content-type': 'application/octet-stream', ...headers }, body });
  const completeOver = (id: string) =>
    request(port, { method: 'POST', path: '/v1/files/complete', headers: { ...auth(), 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ uploadId: id })) });

  it('accepts several parts of one upload at once, in any order, and joins them right', async () => {
    const data = bytes(4 * P - 123);
    const id = await initOne(s, 'tp-par', { name: 'par.bin', size: data.length }, { partSize: P });
    const results = await Promise.all([4, 2, 3, 1].map((n) => put(id, n, data.subarray((n - 1) * P, n * P), { 'content-length': Math.min(P, data.length - (n - 1) * P) })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const done = await completeOver(id);
    expect(done.status).toBe(201);
    const rec = JSON.parse(done.body);
    expect(rec.sha256).toBe(sha256(data));
    expect((await storedBytes(s, rec.key))!.equals(data)).toBe(true);
  });

  it('takes a part sent with chunked transfer encoding (no Content-Length)', async () => {
    const data = bytes(P + 5);
    const id = await initOne(s, 'tp-chunk', { name: 'c.bin', size: data.length }, { partSize: P });
    const chunked = (b: Buffer) => Readable.from([b.subarray(0, 1000), b.subarray(1000)]);
    const p1 = await put(id, 1, chunked(data.subarray(0, P)));
    expect(p1.status).toBe(200);
    expect(JSON.parse(p1.body).sha256).toBe(sha256(data.subarray(0, P)));
    expect((await put(id, 2, chunked(data.subarray(P)))).status).toBe(200);
    expect(JSON.parse((await completeOver(id)).body).sha256).toBe(sha256(data));
  });

  it('cuts a chunked part that runs past partSize with 413 part_too_large and keeps nothing', async () => {
    const id = await initOne(s, 'tp-chunk', { name: 'long.bin', size: 2 * P }, { partSize: P });
    const res = await put(id, 1, Readable.from([bytes(P), bytes(2 * MiB)]));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).code).toBe('part_too_large');
    expect((await status(s, id)).json().parts).toEqual([]);
    await settled(writes, id);
    expect(writes.of(id).map((w) => w.written)).toEqual([null]); // the store gave no copy
    expect(await halfWritten(s)).toBe(0);
  });

  it('does not count a part whose client disconnects mid-body; nothing half-written stays', async () => {
    const id = await initOne(s, 'tp-cut', { name: 'cut.bin', size: 2 * P }, { partSize: P });
    const req = http.request({
      host: '127.0.0.1', port, method: 'PUT', agent: false,
      path: `/v1/files/part?uploadId=${id}&partNumber=1`,
      headers: { ...auth(), 'content-type': 'application/octet-stream', 'content-length': P },
    });
    const closed = new Promise((resolve) => req.on('close', resolve));
    req.on('error', () => undefined);
    req.write(bytes(P / 2));
    // The store is receiving the part by now; then the client vanishes.
    expect(await eventually(() => writes.of(id).length === 1 && writes.streaming() === 1)).toBe(true);
    req.destroy();
    await closed;
    await settled(writes, id); // the write ends (failed) once the server sees the body cut
    expect(writes.of(id).map((w) => w.written)).toEqual([null]); // a copy cut short is never returned
    expect((await status(s, id)).json()).toMatchObject({ parts: [], receivedBytes: 0 });
    expect(await halfWritten(s)).toBe(0);
    // The upload itself is fine: the part can be sent again.
    expect((await put(id, 1, bytes(P))).status).toBe(200);
  });

  it('two completes racing: one 201, the other 200 or 409, and exactly one file', async () => {
    const data = bytes(3 * P);
    const id = await initOne(s, 'tp-race', { name: 'race.bin', size: data.length }, { partSize: P });
    for (const n of [1, 2, 3]) expect((await put(id, n, data.subarray((n - 1) * P, n * P))).status).toBe(200);
    const [a, b] = await Promise.all([completeOver(id), completeOver(id)]);
    const codes = [a.status, b.status].sort();
    expect(codes[0] === 200 || codes[0] === 201).toBe(true);
    expect(codes).toContain(201);
    expect([[200, 201], [201, 409]]).toContainEqual(codes);
    const listed = (await list(s, 'tp-race')).json();
    expect(listed.total_count).toBe(1);
    expect(listed.files[0].sha256).toBe(sha256(data));
    expect(await objectKeys(s, 'storage/tp-race/')).toEqual([listed.files[0].key]);
    // A retry after the race settles answers 200 with the one record.
    const retry = await completeOver(id);
    expect(retry.status).toBe(200);
    expect(JSON.parse(retry.body).key).toBe(listed.files[0].key);
  });
});

describe('an upload that ends while one of its parts is still streaming in', () => {
  let s: TestServer;
  let port: number;
  let writes: PartWrites;
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
    writes = watchPartWrites(s);
  });
  afterAll(async () => {
    writes.restore();
    await s.close();
  });

  const P = 5 * MiB;

  /**
   * Starts part 1 (half sent), runs `meanwhile`, then sends the rest; resolves with the part's
   * answer once `meanwhile` is over too (behind the part-write fence the refusal comes while
   * `meanwhile`'s complete is still waiting for this write to be withdrawn).
   */
  async function partAround(id: string, meanwhile: () => Promise<void>): Promise<{ status: number; body: string }> {
    const data = bytes(P);
    let during: Promise<void> = Promise.resolve();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'PUT', agent: false, path: `/v1/files/part?uploadId=${id}&partNumber=1`, headers: { 'x-service-token': s.serviceToken, 'content-type': 'application/octet-stream', 'content-length': P } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write(data.subarray(0, P / 2));
      // Once the store is receiving the part (and only half of it has been sent).
      during = eventually(() => writes.streaming() === 1).then(meanwhile);
      during.then(() => req.end(data.subarray(P / 2)), reject);
    });
    await during;
    return answer;
  }

  it('aborted meanwhile: the part is refused (404), not a 500, and leaves no part folder behind', async () => {
    const id = await initOne(s, 'late-u', { name: 'late.bin', size: 2 * P }, { partSize: P });
    const res = await partAround(id, async () => {
      expect((await s.asService({ method: 'DELETE', url: `/v1/files/upload/${id}` })).statusCode).toBe(200);
    });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).code).toBe('upload_not_found');
    expect(await uploadAreaIds(s)).not.toContain(id);
    const [late] = writes.of(id, 1);
    // The copy arrived whole, after the abort; behind the part-write fence (S3) it never
    // arrives: the write is withdrawn while its last byte is held back.
    expect(late!.written === null).toBe(s.app.ctx.blobs.capabilities.fencedPartWrites);
    expect(await holdsCopy(s, late!)).toBe(false);
    expect(await halfWritten(s)).toBe(0);
  });

  it('completed meanwhile: the late copy is refused (409) and the file keeps the bytes it was completed with', async () => {
    const first = bytes(P);
    const id = await initOne(s, 'late-u', { name: 'done.bin', size: P }, { mode: 'single' });
    expect((await request(port, { method: 'PUT', path: `/v1/files/part?uploadId=${id}&partNumber=1`, headers: { 'x-service-token': s.serviceToken, 'content-length': P }, body: first })).status).toBe(200);
    let key = '';
    const res = await partAround(id, async () => {
      const done = await s.asService({ method: 'POST', url: '/v1/files/complete', payload: { uploadId: id } });
      expect(done.statusCode).toBe(201);
      key = done.json().key;
    });
    expect(res.status).toBe(409);
    expect(await uploadAreaIds(s)).not.toContain(id);
    const late = writes.of(id, 1).at(-1)!;
    expect(late.written === null).toBe(s.app.ctx.blobs.capabilities.fencedPartWrites); // as above
    expect(await holdsCopy(s, late)).toBe(false);
    expect(sha256((await storedBytes(s, key))!)).toBe(sha256(first));
    expect((await status(s, id)).json()).toMatchObject({ state: 'completed', parts: [] });
  });
});
