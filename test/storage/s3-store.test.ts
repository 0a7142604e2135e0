/**
 * What only the S3 store does, against the real test S3 server (Swift + s3api): the whole
 * file's SHA-256 chained through parts that arrive in order, a part body that ends short or
 * runs long never replacing S3's copy, a completion that meets a replaced part, the
 * one-request upload as a multipart upload, long keys under a digest, the clean-up of its
 * own leftovers, and S3 failures as domain errors (503 / 502) instead of driver errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, DeleteBucketCommand, HeadBucketCommand, HeadObjectCommand, ListPartsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { PartRef, UploadHandle, WrittenPart } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open.js';
import type { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import { runNode } from '../config/run-dist.js';
import { tempDir, testEnv } from '../helpers/app.js';
import { processEnv } from '../helpers/process.js';
import { describeS3, freshS3, listMultipartUploads, listObjects, s3, s3Env, s3Settings, s3StoreOn, type S3Place } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const P = 5 * MiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const stream = (...chunks: Buffer[]) => Readable.from(chunks);
const ref = (partNumber: number, w: WrittenPart): PartRef => ({ partNumber, ref: w.ref, size: w.size, sha256: w.sha256 });
const key = (name = 'f.bin') => `storage/s3-u/${randomBytes(16).toString('hex')}_${name}`;
const uploadId = () => 'S3t' + randomBytes(9).toString('hex');
async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}


describeS3('S3BlobStore on S3', () => {
  let place: S3Place;
  let store: S3BlobStore;
  beforeAll(async () => {
    place = await freshS3('s3store');
    store = s3StoreOn(place, { objectPartBytes: P });
  });
  afterAll(async () => {
    await store?.close();
    await place?.drop();
  });
  const begin = (size = 2 * P + 17): Promise<UploadHandle> => store.beginUpload(uploadId(), { size, partSize: P, mime: 'application/octet-stream' });
  const partEtag = async (up: UploadHandle, n: number) => {
    const out = await s3().send(new ListPartsCommand({ Bucket: place.bucket, Key: `${place.prefix}.uploads/${up.uploadId}`, UploadId: up.ref }));
    return out.Parts?.find((p) => p.PartNumber === n)?.ETag?.replace(/"/g, '');
  };

  it('the whole file\'s SHA-256 comes from parts sent in order, or out of order on this instance (held until the one before joins); re-sent with other bytes or on another instance it is null, never wrong', async () => {
    const parts = [randomBytes(P), randomBytes(P), randomBytes(17)];
    const whole = Buffer.concat(parts);
    const write = async (up: UploadHandle, order: number[], on = store) => {
      const refs: PartRef[] = [];
      for (const i of order) refs[i] = ref(i + 1, await on.writePart(up, i + 1, stream(parts[i]!), { maxBytes: parts[i]!.length, md5: false }));
      return refs;
    };
    const inOrder = await begin();
    const refs = await write(inOrder, [0, 1, 2]);
    // Sent again with the same bytes: the chain still holds.
    refs[1] = ref(2, await store.writePart(inOrder, 2, stream(parts[1]!), { maxBytes: P }));
    expect(await store.assemble(inOrder, refs, key())).toEqual({ size: whole.length, sha256: sha(whole) });

    const outOfOrder = await begin();
    expect((await store.assemble(outOfOrder, await write(outOfOrder, [1, 0, 2]), key())).sha256).toBe(sha(whole));
    expect(store.chains.holding).toBe(0);

    const resent = await begin();
    const resentRefs = await write(resent, [0, 1, 2]);
    const other = randomBytes(P);
    resentRefs[1] = ref(2, await store.writePart(resent, 2, stream(other), { maxBytes: P }));
    const k = key();
    expect(await store.assemble(resent, resentRefs, k)).toEqual({ size: whole.length, sha256: null });
    expect((await collect(await store.read(k))).equals(Buffer.concat([parts[0]!, other, parts[2]!]))).toBe(true);

    const elsewhere = s3StoreOn(place);
    try {
      const up = await begin();
      const written = await write(up, [0, 1, 2]);
      expect((await elsewhere.assemble(up, written, key())).sha256).toBeNull(); // the chain lives on the writing instance
      expect((await store.assemble(up, written, key())).sha256).toBe(sha(whole));
    } finally {
      await elsewhere.close();
    }
    for (const up of [inOrder, outOfOrder, resent]) await store.abortUpload(up);
  });

  it('parts sent in parallel chain too (each held on local disk until the one before joins): the digest, no read-back; past the hold budget, null', async () => {
    const parts = [randomBytes(P), randomBytes(P), randomBytes(P), randomBytes(17)];
    const whole = Buffer.concat(parts);
    const parallel = async (on: S3BlobStore) => {
      const up = await on.beginUpload(uploadId(), { size: whole.length, partSize: P, mime: 'application/octet-stream' });
      const refs = await Promise.all(parts.map(async (p, i) => ref(i + 1, await on.writePart(up, i + 1, stream(p), { maxBytes: p.length, md5: false }))));
      const out = await on.assemble(up, refs, key());
      await on.abortUpload(up);
      return out;
    };
    expect(await parallel(store)).toEqual({ size: whole.length, sha256: sha(whole) });
    expect(store.chains.holding).toBe(0);
    // Parallel requests reach the store in any order: parts 4, 3 and 2 begin before part 1.
    const late = await store.beginUpload(uploadId(), { size: whole.length, partSize: P, mime: 'application/octet-stream' });
    const first = [4, 3, 2].map(async (n) => ref(n, await store.writePart(late, n, stream(parts[n - 1]!), { maxBytes: parts[n - 1]!.length, md5: false })));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const one = ref(1, await store.writePart(late, 1, stream(parts[0]!), { maxBytes: parts[0]!.length, md5: false }));
    expect(await store.assemble(late, [one, ...(await Promise.all(first)).reverse()], key())).toEqual({ size: whole.length, sha256: sha(whole) });
    await store.abortUpload(late);
    expect(store.chains.holding).toBe(0);
    const tight = s3StoreOn(place, { holdBudgetBytes: P / 2 }); // less than a part: none can be held
    try {
      expect(await parallel(tight)).toEqual({ size: whole.length, sha256: null });
      expect(tight.chains.holding).toBe(0);
    } finally {
      await tight.close();
    }
  });

  it('a part body that ends short, runs long (its last byte late) or fails never replaces the copy S3 holds', async () => {
    const up = await begin(P + 1);
    const good = randomBytes(P);
    const kept = await store.writePart(up, 1, stream(good), { maxBytes: P });
    const before = await partEtag(up, 1);
    expect(before).toBe(kept.ref);
    await expect(store.writePart(up, 1, stream(randomBytes(1000)), { maxBytes: P })).rejects.toMatchObject({ code: 'part_size_mismatch' });
    // Exactly the declared length at first, one byte more 300 ms later: S3 must never have
    // had all the bytes it was promised, or it would have stored the copy by then.
    const late = new Readable({ read() {} });
    const long = store.writePart(up, 1, late, { maxBytes: P });
    late.push(randomBytes(P));
    setTimeout(() => {
      late.push(Buffer.from('x'));
      late.push(null);
    }, 300);
    await expect(long).rejects.toMatchObject({ code: 'payload_too_large' });
    const failing = new Readable({ read() {} });
    const cut = store.writePart(up, 1, failing, { maxBytes: P });
    failing.push(randomBytes(P - 1));
    setTimeout(() => failing.destroy(new Error('client went away')), 300);
    await expect(cut).rejects.toThrow('client went away');
    expect(await partEtag(up, 1)).toBe(before);
    const last = await store.writePart(up, 2, stream(Buffer.from('!')), { maxBytes: 1 });
    const k = key();
    await store.assemble(up, [ref(1, kept), ref(2, last)], k);
    expect(sha(await collect(await store.read(k)))).toBe(sha(Buffer.concat([good, Buffer.from('!')])));
    await store.abortUpload(up);
  });

  it('a completion repeated with another key aliases the completed object again; a part sent after the parts were joined is refused (S3 keeps the joined copy)', async () => {
    const up = await begin(P + 1);
    const a = randomBytes(P);
    const written = [await store.writePart(up, 1, stream(a), { maxBytes: P }), await store.writePart(up, 2, stream(Buffer.from('!')), { maxBytes: 1 })];
    const refs = written.map((w, i) => ref(i + 1, w));
    const [k1, k2] = [key(), key()];
    await store.assemble(up, refs, k1);
    await store.assemble(up, refs, k2); // a retry after a crash past CompleteMultipartUpload
    for (const k of [k1, k2]) expect(sha(await collect(await store.read(k)))).toBe(sha(Buffer.concat([a, Buffer.from('!')])));
    // Part 1 sent again after the completion: AWS refuses it (NoSuchUpload); Swift would take
    // it and rewrite the joined object's segment, so the store refuses it first (its last byte
    // never goes) on every server.
    await expect(store.writePart(up, 1, stream(randomBytes(P)), { maxBytes: P })).rejects.toMatchObject({ code: 'upload_not_open' });
    expect(await partEtag(up, 1).catch(() => refs[0]!.ref)).toBe(refs[0]!.ref);
    for (const k of [k1, k2]) expect(sha(await collect(await store.read(k)))).toBe(sha(Buffer.concat([a, Buffer.from('!')])));
    await store.abortUpload(up);
  });

  it('a completion copies no byte: the key is an empty alias of the joined upload, read through it; deleting the key removes the joined object once committed', async () => {
    const parts = [randomBytes(P), randomBytes(17)];
    const up = await begin(P + 17);
    const refs: PartRef[] = [];
    for (const [i, p] of parts.entries()) refs.push(ref(i + 1, await store.writePart(up, i + 1, stream(p), { maxBytes: p.length })));
    const k = key('aliased.bin');
    expect((await store.assemble(up, refs, k)).size).toBe(P + 17);
    expect((await s3().send(new HeadObjectCommand({ Bucket: place.bucket, Key: place.prefix + k }))).ContentLength).toBe(0);
    const fresh = s3StoreOn(place); // no alias cached: resolved from S3
    try {
      expect(sha(await collect(await fresh.read(k)))).toBe(sha(Buffer.concat(parts)));
      expect((await collect(await fresh.read(k, { start: P - 1, end: P }))).equals(Buffer.concat(parts).subarray(P - 1, P + 1))).toBe(true);
      expect(await fresh.stat(k)).toMatchObject({ size: P + 17 });
      await store.abortUpload(up); // after the commit: the joined object stays, marked committed
      expect(sha(await collect(await fresh.read(k)))).toBe(sha(Buffer.concat(parts)));
      await fresh.delete(k);
      expect(await fresh.stat(k)).toBeNull();
      expect(await listObjects(place.bucket, `${place.prefix}.uploads/${up.uploadId}`)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('the one-request upload is a multipart upload of bounded parts above one part, a single PUT below', async () => {
    const big = randomBytes(2 * P + 5);
    const kBig = key('big.bin');
    expect(await store.writeObject(kBig, stream(big), { maxBytes: 3 * P, md5: false })).toMatchObject({ size: big.length, sha256: sha(big) });
    const head = await s3().send(new HeadObjectCommand({ Bucket: place.bucket, Key: place.prefix + kBig }));
    expect(head.ETag).toMatch(/-3"$/); // three parts of P, P and 5 bytes
    const kSmall = key('small.bin');
    await store.writeObject(kSmall, stream(Buffer.from('small')), { maxBytes: 3 * P });
    expect((await s3().send(new HeadObjectCommand({ Bucket: place.bucket, Key: place.prefix + kSmall }))).ETag).toBe(`"${createHash('md5').update('small').digest('hex')}"`);
  });

  it('keys too long for an S3 name live under .long/<sha256(key)>; every name stays within 900 bytes', async () => {
    const seg = (i: number) => String(i).padStart(2, '0') + '字'.repeat(84) + 'x';
    const longest = `storage/${'u'.repeat(128)}/${Array.from({ length: 32 }, (_, i) => seg(i)).join('/')}/${'0'.repeat(32)}_${'🎉'.repeat(63)}a.b`;
    await store.writeObject(longest, stream(Buffer.from('long')), { maxBytes: 10 });
    const digest = createHash('sha256').update(longest).digest('hex');
    const names = (await listObjects(place.bucket, place.prefix)).map((o) => o.Key!);
    expect(names).toContain(`${place.prefix}.long/${digest.slice(0, 2)}/${digest}`);
    expect(names.every((n) => Buffer.byteLength(n) <= 900)).toBe(true);
    expect((await collect(await store.read(longest))).toString()).toBe('long');
    await store.delete(longest);
    expect(await store.stat(longest)).toBeNull();
  });

  it('removeTemporary aborts a one-request upload a crash left behind, once no part arrived since the cut-off; upload areas are the service\'s', async () => {
    const name = `${place.prefix}${key('crashed.bin')}`;
    const { UploadId } = await s3().send(new CreateMultipartUploadCommand({ Bucket: place.bucket, Key: name }));
    await s3().send(new UploadPartCommand({ Bucket: place.bucket, Key: name, UploadId, PartNumber: 1, Body: randomBytes(100) }));
    const area = await begin();
    expect(await store.removeTemporary(Date.now() - 3_600_000)).toBe(0);
    expect(await store.removeTemporary(Date.now() + 60_000)).toBe(1);
    const open = await listMultipartUploads(place.bucket, place.prefix);
    expect(open.map((u) => u.UploadId)).not.toContain(UploadId);
    expect(open.map((u) => u.UploadId)).toContain(area.ref);
    await store.abortUpload(area);
  });

  it('a completed upload never aborted is an upload area; aborting it through the listed handle keeps the file\'s bytes, and it is listed no more', async () => {
    const up = await begin(10);
    const k = key();
    await store.assemble(up, [ref(1, await store.writePart(up, 1, stream(Buffer.from('0123456789')), { maxBytes: 10 }))], k);
    const listed: UploadHandle[] = [];
    for await (const page of store.uploadAreas(Date.now() + 60_000)) listed.push(...page.filter((a) => a.handle.uploadId === up.uploadId).map((a) => a.handle));
    expect(listed).toEqual([{ uploadId: up.uploadId, ref: '' }]);
    await store.abortUpload(listed[0]!);
    expect((await collect(await store.read(k))).toString()).toBe('0123456789');
    for await (const page of store.uploadAreas(Date.now() + 60_000)) expect(page.map((a) => a.handle.uploadId)).not.toContain(up.uploadId);
    // An upload completed but never committed (its alias is gone) is removed whole.
    const loose = await begin(10);
    const kLoose = key();
    await store.assemble(loose, [ref(1, await store.writePart(loose, 1, stream(Buffer.from('0123456789')), { maxBytes: 10 }))], kLoose);
    await store.delete(kLoose);
    await store.abortUpload({ uploadId: loose.uploadId, ref: '' });
    expect(await listObjects(place.bucket, `${place.prefix}.uploads/${loose.uploadId}`)).toEqual([]);
  });
});

describeS3('S3BlobStore when S3 fails', () => {
  const place = { bucket: 'sl-unreachable', prefix: '' };

  it('an endpoint that refuses connections: every call fails at once with storage_unavailable (503), health says not writable', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const store = s3StoreOn(place, {}, { endpoint: `http://127.0.0.1:${closed}` });
    try {
      const t0 = Date.now();
      const up = { uploadId: uploadId(), ref: 'x' };
      const calls = [
        () => store.beginUpload(uploadId(), { size: 1, partSize: 1, mime: 'text/plain' }),
        () => store.writePart(up, 1, stream(Buffer.from('x')), { maxBytes: 1 }),
        () => store.writeObject(key(), stream(Buffer.from('x')), { maxBytes: 1 }),
        () => store.read(key()),
        () => store.stat(key()),
        () => store.delete(key()),
        () => store.assemble(up, [{ partNumber: 1, ref: 'e', size: 1, sha256: '' }], key()),
      ];
      for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'storage_unavailable', retryAfterSeconds: 1 });
      expect(await store.health()).toEqual({ writable: false });
      expect(Date.now() - t0).toBeLessThan(10_000); // retries back off, but not for long
    } finally {
      await store.close();
    }
  });

  it('a server that accepts and then says nothing: storage_unavailable once the idle timeout passes, not a hang', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const store = s3StoreOn(place, { timeouts: { connectMs: 1000, idleMs: 500 } }, { endpoint: `http://127.0.0.1:${port}` });
    try {
      const t0 = Date.now();
      await expect(store.stat(key())).rejects.toMatchObject({ code: 'storage_unavailable' });
      expect(Date.now() - t0).toBeLessThan(8_000);
    } finally {
      await store.close();
      silent.close();
    }
  });

  it('refused credentials: storage_error (502), never the S3 error itself', async () => {
    const store = s3StoreOn({ bucket: s3Settings().bucket, prefix: 'wrong-secret/' }, {}, { secretAccessKey: 'not-the-secret' });
    try {
      const err = await store.stat(key()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'storage_error', message: 'The object storage refused the request' });
      await expect(store.read(key())).rejects.toMatchObject({ code: 'storage_error' });
    } finally {
      await store.close();
    }
  });
});

describeS3('opening the S3 store at start-up', () => {
  const open = async (env: Record<string, string>) => openBlobStore(loadConfig(testEnv(await tempDir('sl-s3open-'), env)));

  it('S3_CREATE_BUCKET=true creates a missing bucket; without it, a missing bucket, a wrong key or no server stops the start naming the variable', async () => {
    const bucket = `sl-open-${randomBytes(5).toString('hex')}`;
    await expect(open(s3Env({ bucket, prefix: '' }))).rejects.toMatchObject({ name: 'ConfigError', variable: 'S3_BUCKET', message: expect.stringContaining('S3_CREATE_BUCKET=true creates it') });
    const made = await open({ ...s3Env({ bucket, prefix: '' }), S3_CREATE_BUCKET: 'true' });
    await made.close();
    await s3().send(new HeadBucketCommand({ Bucket: bucket }));
    const again = await open({ ...s3Env({ bucket, prefix: '' }), S3_CREATE_BUCKET: 'true' }); // already there: fine
    await again.close();
    await s3().send(new DeleteBucketCommand({ Bucket: bucket }));
    await expect(open({ ...s3Env({ bucket: s3Settings().bucket, prefix: '' }), S3_SECRET_ACCESS_KEY: 'wrong' })).rejects.toMatchObject({ variable: 'S3_ACCESS_KEY_ID' });
    await expect(open({ ...s3Env({ bucket: s3Settings().bucket, prefix: '' }), S3_ENDPOINT: 'http://127.0.0.1:9' })).rejects.toMatchObject({ variable: 'S3_ENDPOINT', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('the server process says it in one line and exits 1', async () => {
    const root = await tempDir('sl-s3open-');
    const env = { ...processEnv(root), ...s3Env({ bucket: 'sl-no-such-bucket', prefix: '' }) };
    const run = await runNode('main.js', [], env, root);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'))).toEqual([
      `configuration error: S3_BUCKET: bucket "sl-no-such-bucket" does not exist at ${s3Settings().endpoint} (S3_CREATE_BUCKET=true creates it)`,
    ]);
  });
});
