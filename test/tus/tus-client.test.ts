/**
 * tus-js-client (Node) against /v1/tus/ on a real socket: plain, small chunks (tails shorter
 * than a part carried between PATCHes), resumed after an abort, parallelUploads (concatenation),
 * a stream of unknown length (uploadLengthDeferred),
 * each result downloaded and compared byte for byte; the file is an ordinary record.
 * Also run by the `s3` project (bytes on the test S3 server).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, create, download, meta, MiB, offsetOf, patch, sha256, startTusServer, tusUpload, type TusServer } from './tus-kit.js';

let t: TusServer;
let token: string;

beforeAll(async () => {
  t = await startTusServer();
  token = await t.s.tokenFor('tus-alice');
});
afterAll(async () => t?.s.close());

describe('tus-js-client against /v1/tus/', () => {
  it('uploads a file in one PATCH; it becomes an ordinary file record with the metadata', async () => {
    const data = randomBytes(19 * MiB + 123);
    const url = await tusUpload(data, { endpoint: t.endpoint, headers: bearer(token), metadata: { filename: 'plain.bin', filetype: 'image/png', folder: 'tus/in' } });
    expect(url.startsWith(`${t.base}/v1/tus/`)).toBe(true);
    const { data: back, record } = await download(t, token, 'plain.bin');
    expect(back.equals(data)).toBe(true);
    expect(record).toMatchObject({ size: data.length, sha256: sha256(data), mime: 'image/png', folder: 'tus/in' });
    // HEAD of a finished upload: offset = length.
    expect(await offsetOf(url, bearer(token))).toBe(data.length);
    const usage = await (await fetch(`${t.base}/v1/files/usage`, { headers: bearer(token) })).json();
    expect(usage).toMatchObject({ reserved_bytes: 0, open_uploads: 0 });
  });

  it('chunkSize smaller than the part size: the tail of each PATCH survives until the next one', async () => {
    const data = randomBytes(17 * MiB + 5);
    const offsets: number[] = [];
    await tusUpload(data, {
      endpoint: t.endpoint,
      headers: bearer(token),
      chunkSize: 3 * MiB + 17,
      metadata: { filename: 'chunks.bin', sha256: sha256(data) },
      onChunkComplete: (_chunk, accepted) => offsets.push(accepted),
    });
    expect(offsets.length).toBe(6);
    expect(offsets.at(-1)).toBe(data.length);
    expect((await download(t, token, 'chunks.bin')).data.equals(data)).toBe(true);
  });

  it('resumes after an abort mid-upload from the stored URL, at the offset HEAD gives', async () => {
    const data = randomBytes(26 * MiB);
    let stopped: ((url: string) => void) | undefined;
    const urlOnAbort = new Promise<string>((resolve) => (stopped = resolve));
    const first = tusUpload(data, {
      endpoint: t.endpoint,
      headers: bearer(token),
      chunkSize: 4 * MiB,
      metadata: { filename: 'resumed.bin' },
      stopAfter: { bytes: 13 * MiB, then: (u) => void u.abort().then(() => stopped!(u.url!)) },
    });
    const url = await urlOnAbort;
    void first.catch(() => undefined);
    const offset = await offsetOf(url, bearer(token));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(data.length);
    let resumedFrom = -1;
    await tusUpload(data, { uploadUrl: url, headers: bearer(token), chunkSize: 4 * MiB, retryDelays: [100, 500, 1000], onProgress: (sent) => (resumedFrom = resumedFrom < 0 ? sent : resumedFrom) });
    expect(resumedFrom).toBeGreaterThan(0); // it did not start again from 0
    expect((await download(t, token, 'resumed.bin')).data.equals(data)).toBe(true);
  });

  it('uploadLengthDeferred: a stream of unknown length, its Upload-Length sent with the last PATCH; the MAX_BODY_MB reservation shrinks to it; a length sent alone makes the tail the last part', async () => {
    const data = randomBytes(9 * MiB + 7); // 3 MiB chunks: tails, a whole 8 MiB part, then a tail and 7 bytes with the length
    // tus-js-client sends what one read of a stream gives (up to chunkSize): 3 MiB pieces.
    const source = Readable.from((function* () {
      for (let i = 0; i < data.length; i += 3 * MiB) yield data.subarray(i, i + 3 * MiB);
    })());
    const reserved: Promise<number>[] = []; // after each PATCH, in order
    const lengths: (string | undefined)[] = []; // each PATCH's Upload-Length
    await tusUpload(source as unknown as Buffer, {
      endpoint: t.endpoint,
      headers: bearer(token),
      uploadLengthDeferred: true,
      chunkSize: 3 * MiB,
      metadata: { filename: 'deferred.bin', sha256: sha256(data) },
      onBeforeRequest: (req) => void (req.getMethod() === 'PATCH' && lengths.push(req.getHeader('Upload-Length'))),
      onChunkComplete: () => void reserved.push(fetch(`${t.base}/v1/files/usage`, { headers: bearer(token) }).then(async (r) => ((await r.json()) as { reserved_bytes: number }).reserved_bytes)),
    });
    expect((await download(t, token, 'deferred.bin')).data.equals(data)).toBe(true);
    expect(await reserved[0]).toBe(5120 * MiB); // MAX_BODY_MB while the length is unknown
    expect(lengths).toEqual([undefined, undefined, undefined, String(data.length)]);

    // Raw: the length in a PATCH of its own, where the bytes received end inside a part.
    const res = await create(t, { ...bearer(token), 'Upload-Defer-Length': '1', 'Upload-Metadata': meta({ filename: 'deferred-tail.bin' }) }, data.subarray(0, 1234));
    expect(res.status).toBe(201);
    expect((await patch(res.headers.get('location')!, { ...bearer(token), 'Upload-Offset': '1234', 'Upload-Length': '1234' }, Buffer.alloc(0))).status).toBe(204);
    expect((await download(t, token, 'deferred-tail.bin')).data.equals(data.subarray(0, 1234))).toBe(true);
    const usage = await (await fetch(`${t.base}/v1/files/usage`, { headers: bearer(token) })).json();
    expect(usage).toMatchObject({ reserved_bytes: 0, open_uploads: 0 });
  });

  it('parallelUploads: 4 makes partial uploads and a final concatenation; partials are not files', async () => {
    const data = randomBytes(21 * MiB + 333);
    const url = await tusUpload(data, { endpoint: t.endpoint, headers: bearer(token), parallelUploads: 4, metadata: { filename: 'parallel.bin', sha256: sha256(data) } });
    const { data: back, record } = await download(t, token, 'parallel.bin');
    expect(back.equals(data)).toBe(true);
    expect(record.sha256).toBe(sha256(data));
    const head = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', ...bearer(token) } });
    // "…the Upload-Concat header and its value as received in the upload creation request": the 4 partials' URLs.
    const [kind, partials] = head.headers.get('upload-concat')!.split(';');
    expect([kind, partials!.split(' ').filter((u) => u.startsWith(`${t.base}/v1/tus/`)).length]).toEqual(['final', 4]);
    expect(Number(head.headers.get('upload-offset'))).toBe(data.length);
    const usage = (await (await fetch(`${t.base}/v1/files/usage`, { headers: bearer(token) })).json()) as { used_bytes: number };
    expect(usage).toMatchObject({ reserved_bytes: 0, open_uploads: 0 });
    const listed = (await (await fetch(`${t.base}/v1/files/all?limit=1000`, { headers: bearer(token) })).json()) as { files: { size: number }[] };
    expect(listed.files.reduce((n, f) => n + f.size, 0)).toBe(usage.used_bytes);
  });
});
