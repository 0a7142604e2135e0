/**
 * The part-write fence on the test S3 server (Swift + s3api, which takes an UploadPart after
 * CompleteMultipartUpload and rewrites the completed object's segment: a later GET answers
 * 409 BrokenMPU). A completion copies nothing (the key aliases the joined upload), so a part
 * write reaching S3 after the join would break a committed file; the fence must prevent it:
 *  - a part re-sent while its upload completes is withdrawn, the completion waits for it and
 *    commits the recorded copies, and the file reads whole (fails when the fence is off);
 *  - two completes at once give one file, with a re-send in flight;
 *  - a writer that cannot renew its lease (database unreachable) withdraws before the lease
 *    lapses, and a completion then waits no longer than the lease.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore, UploadStore } from '../../src/db/types.js';
import { PartWriteHold, waitForPartWrites } from '../../src/files/part-write-fence.js';
import type { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { describeS3, freshS3, s3, s3StoreOn, type S3Place } from '../helpers/s3.js';
import { bytes, complete, initOne, listen, MiB, putPart, request, sha256 } from '../files/upload-kit.js';
import { uploadOf } from '../db/fixtures.js';

const P = 5 * MiB;

/** A body that sends all but its last `held` bytes at once and the rest when `release()` is called. */
function slowBody(data: Buffer, held = 1): { body: Readable; release: () => void } {
  const body = new Readable({ read() {} });
  body.push(data.subarray(0, data.length - held));
  return {
    body,
    release: () => {
      body.push(data.subarray(data.length - held));
      body.push(null);
    },
  };
}

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeS3('the part-write fence on S3', () => {
  let s: TestServer;
  let place: S3Place;
  let port: number;
  beforeAll(async () => {
    place = await freshS3('fence');
    s = await startTestServer(place.env);
    port = await listen(s);
  });
  afterAll(async () => {
    await s?.close();
    await place?.drop();
  });

  /** A two-part upload with both parts recorded; returns its id and bytes. */
  async function twoParts(): Promise<{ id: string; data: Buffer }> {
    const data = bytes(P + 17);
    const id = await initOne(s, 'u', { name: 'fenced.bin', size: data.length }, { partSize: P });
    for (const [n, chunk] of [data.subarray(0, P), data.subarray(P)].entries()) expect((await putPart(s, id, n + 1, chunk)).statusCode).toBe(200);
    return { id, data };
  }

  /** Over a real socket: a refused write answers while its body is still coming. */
  const resend = (id: string, body: Readable) =>
    request(port, {
      method: 'PUT',
      path: `/v1/files/part?uploadId=${id}&partNumber=1`,
      headers: { 'content-type': 'application/octet-stream', 'content-length': P, 'x-service-token': s.serviceToken },
      body,
    }).catch((err: Error) => ({ status: -1, body: err.message }));

  async function readBack(key: string): Promise<{ status: number; sha: string }> {
    const res = await s.asService({ method: 'GET', url: '/' + key.split('/').map(encodeURIComponent).join('/') });
    return { status: res.statusCode, sha: sha256(res.rawPayload) };
  }

  it('a part re-sent while its upload completes is withdrawn; the complete waits for it, commits the recorded copies, and the file stays whole', async () => {
    const { id, data } = await twoParts();
    const slow = slowBody(bytes(P));
    const inFlight = resend(id, slow.body);
    await new Promise((r) => setTimeout(r, 500)); // all but its last byte are at S3 by now
    const registered = await s.app.ctx.store.uploads.livePartWrites(id, Date.now());
    const t0 = Date.now();
    const done = await complete(s, id);
    const waited = Date.now() - t0;
    expect(done.statusCode, done.body).toBe(201);
    slow.release(); // its last byte, after the completion: it must never reach S3
    const resent = await inFlight;
    expect(await readBack(done.json().key)).toEqual({ status: 200, sha: sha256(data) });
    expect(resent.status).toBe(409);
    expect(registered).toBe(1);
    expect(waited).toBeLessThan(5_000); // the writer withdrew at its next renewal (1 s), no lease ran out
    expect(await s.app.ctx.store.uploads.livePartWrites(id, Date.now())).toBe(0);
    // A re-send after the completion is refused before any byte goes to S3.
    expect((await putPart(s, id, 1, bytes(P))).statusCode).toBe(409);
    expect(await readBack(done.json().key)).toEqual({ status: 200, sha: sha256(data) });
  });

  it('two completes at once while a part is re-sent: one file, the same answer, whole', async () => {
    const { id, data } = await twoParts();
    const slow = slowBody(bytes(P), 1000);
    const inFlight = resend(id, slow.body);
    await until(async () => (await s.app.ctx.store.uploads.livePartWrites(id, Date.now())) === 1);
    const [a, b] = await Promise.all([complete(s, id), complete(s, id)]);
    slow.release();
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 201]);
    expect(a.json().key).toBe(b.json().key);
    expect((await inFlight).status).toBe(409);
    expect(await readBack(a.json().key)).toEqual({ status: 200, sha: sha256(data) });
  });
});

describeS3('a part writer whose lease lapses', () => {
  let place: S3Place;
  let store: MetadataStore;
  let blobs: S3BlobStore;
  beforeAll(async () => {
    place = await freshS3('lapse');
    store = await openMetadataStore({ databaseUrl: `sqlite:${path.join(await tempDir('sl-lapse-'), 'm.sqlite')}` });
    blobs = s3StoreOn(place);
  });
  afterAll(async () => {
    await blobs?.close();
    await store?.close();
    await place?.drop();
  });

  it('cannot renew (database unreachable): it withdraws before its lease lapses, S3 keeps the earlier copy, and a completion waits no longer than the lease', async () => {
    const t = { leaseMs: 800, renewEveryMs: 100, marginMs: 300 };
    const u = uploadOf('u', P);
    const handle = await blobs.beginUpload(u.id, { size: P, partSize: P, mime: 'application/octet-stream' });
    await store.uploads.createUploads([{ ...u, blobRef: handle.ref }], { userId: 'u', defaultQuotaBytes: 10 * P });
    const first = await blobs.writePart(handle, 1, Readable.from([bytes(P)]), { maxBytes: P });
    // The store as seen by a writer whose database went away once its write was registered.
    const unreachable: UploadStore = Object.create(store.uploads, {
      renewPartWrite: { value: () => Promise.reject(new Error('database unreachable')) },
    });
    const clock = { now: () => Date.now() };
    const t0 = Date.now();
    const hold = await PartWriteHold.begin(unreachable, u.id, clock, t);
    const slow = slowBody(bytes(P));
    const write = blobs.writePart(handle, 1, slow.body, { maxBytes: P, fence: hold }).finally(() => hold.end());
    const failed = await write.then(() => null, (err: { code?: string }) => err);
    const withdrawnAfter = Date.now() - t0;
    expect(failed).toMatchObject({ code: 'upload_not_open' });
    expect(withdrawnAfter).toBeGreaterThanOrEqual(t.leaseMs - t.marginMs - 50);
    expect(withdrawnAfter).toBeLessThan(t.leaseMs);
    slow.release();
    const parts = await s3().send(new ListPartsCommand({ Bucket: place.bucket, Key: `${place.prefix}.uploads/${u.id}`, UploadId: handle.ref }));
    expect(parts.Parts?.map((p) => p.ETag?.replace(/"/g, ''))).toEqual([first.ref]);
    // Its registration could not be ended either (same database): a completion waits for the lease, no longer.
    const registered = Object.create(store.uploads, { endPartWrite: { value: () => Promise.reject(new Error('database unreachable')) } }) as UploadStore;
    const lapsing = await PartWriteHold.begin(registered, u.id, clock, { ...t, renewEveryMs: 60_000 });
    await lapsing.end();
    const w0 = Date.now();
    expect(await store.uploads.beginAssembly(u.id, 'storage/u/k', w0, w0 + 60_000)).toBe(true);
    await waitForPartWrites(store.uploads, u.id, clock, t);
    const waited = Date.now() - w0;
    expect(waited).toBeGreaterThanOrEqual(t.leaseMs - 100);
    expect(waited).toBeLessThan(t.leaseMs + 1_000);
    await blobs.abortUpload(handle);
  });
});
