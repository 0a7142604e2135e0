/**
 * The upload digests computed on a worker thread (util/hash-worker.ts): exact digests whether
 * the chunks are moved or copied, a chunk moved only when it is the whole of its buffer and
 * the writer owns it, a failed worker failing its streams (and only those), and over a real
 * socket — where the body's chunks are moved after they are written — the bytes kept and the
 * checksums checked exactly as before.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashWorker } from '../../src/util/hash-worker.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { complete, initOne, listen, md5b64, MiB, request, status, storedBytes } from '../files/upload-kit.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
/** A chunk that is the whole of its own ArrayBuffer, as Node's HTTP parser hands them out. */
const own = (n: number) => {
  const b = Buffer.allocUnsafeSlow(n);
  randomBytes(n).copy(b);
  return b;
};

describe('HashWorker', () => {
  const hashes = new HashWorker();
  afterAll(() => hashes.close());

  it('digests what it is handed, in order; owned whole buffers are moved, the rest copied', async () => {
    const pieces = [own(65536), own(1), own(300_000), own(65536)];
    const expected = Buffer.concat(pieces);
    const shared = randomBytes(200_000); // a view into a bigger buffer: copied even when owned
    const view = shared.subarray(1000, 101_000);
    const h = hashes.stream({ md5: true });
    const twice = own(1000);
    const twiceCopy = Buffer.from(twice);
    h.update(pieces.slice(0, 2), true);
    h.update([view], true);
    h.update(pieces.slice(2), false);
    h.update([twice, twice], true); // the same buffer twice in one batch: moved once, copied once
    await h.room();
    const all = Buffer.concat([expected.subarray(0, 65537), view, expected.subarray(65537), twiceCopy, twiceCopy]);
    expect(await h.digest()).toEqual({ sha256: sha(all), md5: md5(all) });
    expect(pieces.map((p) => p.length)).toEqual([0, 0, 300_000, 65536]); // the owned ones went
    expect(view.length).toBe(100_000);
    expect(sha(shared.subarray(1000, 101_000))).toBe(sha(view));
  });

  it('MD5 only when asked; several streams at once keep their own state', async () => {
    const [a, b] = [randomBytes(5 * MiB), randomBytes(3 * MiB)];
    const [ha, hb] = [hashes.stream(), hashes.stream({ md5: true })];
    for (let i = 0; i < 5; i++) {
      ha.update([a.subarray(i * MiB, (i + 1) * MiB)], false);
      if (i < 3) hb.update([b.subarray(i * MiB, (i + 1) * MiB)], false);
    }
    expect(await hb.digest()).toEqual({ sha256: sha(b), md5: md5(b) });
    expect(await ha.digest()).toEqual({ sha256: sha(a), md5: '' });
  });

  it('a worker that goes away fails the streams it held; the next stream starts a new one', async () => {
    const h = hashes.stream();
    h.update([randomBytes(1000)], false);
    await hashes.close();
    await expect(h.digest()).rejects.toThrow(/closed/);
    const next = hashes.stream();
    next.update([Buffer.from('abc')], false);
    expect((await next.digest()).sha256).toBe(sha(Buffer.from('abc')));
  });
});

describe('PUT /v1/files/part over a real socket (body chunks moved to the hash worker)', () => {
  let s: TestServer;
  let port: number;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
    token = await s.tokenFor('hash-u');
  });
  afterAll(async () => s.close());

  const put = (id: string, data: Buffer, headers: Record<string, string> = {}) =>
    request(port, {
      method: 'PUT',
      path: `/v1/files/part?uploadId=${id}&partNumber=1`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': data.length, ...headers },
      // In 1 MiB writes, so the server reads many socket chunks.
      body: Readable.from(Array.from({ length: Math.ceil(data.length / MiB) }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB))),
    });

  it('answers the exact SHA-256, keeps the exact bytes, and refuses a wrong Content-MD5 / X-Checksum-SHA256 before recording', async () => {
    const data = randomBytes(12 * MiB + 17);
    const id = await initOne(s, 'hash-u', { name: 'h.bin', size: data.length }, { mode: 'single' });
    const wrongMd5 = await put(id, data, { 'content-md5': md5b64(Buffer.from('x')) });
    expect(wrongMd5.status).toBe(400);
    expect(JSON.parse(wrongMd5.body).code).toBe('checksum_mismatch');
    const wrongSha = await put(id, data, { 'x-checksum-sha256': sha(Buffer.from('x')) });
    expect(JSON.parse(wrongSha.body).code).toBe('checksum_mismatch');
    expect((await status(s, id)).json().parts).toEqual([]);
    const ok = await put(id, data, { 'content-md5': md5b64(data), 'x-checksum-sha256': sha(data) });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ partNumber: 1, size: data.length, sha256: sha(data) });
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json().sha256).toBe(sha(data));
    expect(sha((await storedBytes(s, done.json().key))!)).toBe(sha(data));
  });
});
