/**
 * The BlobStore contract as a reusable suite: every store (local disk, S3) must pass it. Call
 * `blobStoreConformance('name', factory)` from a *.test.ts file.
 *
 * Parts are sized as the service sizes them: every part but the last at least
 * `capabilities.minPartSize` (S3 refuses smaller ones at completion), `maxBytes` the part's exact
 * size. Where stores may differ, the store's declared capabilities say which behaviour to hold
 * it to (`distinctPartCopies`: disk keeps copies of a part apart, S3 keeps one per part number).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, BlobNotFound, isErrorCode, TooLarge } from '../../src/errors/index.js';
import type { BlobStore, PartRef, UploadHandle, WrittenPart } from '../../src/storage/blob-store.js';

export interface BlobStoreFixture {
  store: BlobStore;
  /** Another store on the same backing (a second instance), for close() and races. */
  fresh(): Promise<BlobStore>;
  cleanup(): Promise<void>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const stream = (...chunks: Buffer[]) => Readable.from(chunks);
const failing = (first: Buffer) =>
  new Readable({
    read() {
      if (this.readableLength === 0 && !(this as { sent?: boolean }).sent) {
        (this as { sent?: boolean }).sent = true;
        this.push(first);
      } else this.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' }));
    },
  });
async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let n = 0;
const uploadId = () => `Upload${String(++n).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
const ref = (partNumber: number, w: WrittenPart): PartRef => ({ partNumber, ref: w.ref, size: w.size, sha256: w.sha256 });
const key = (name = 'f.bin', folder = 'docs') => `storage/conf-u/${folder}/${randomBytes(16).toString('hex')}_${name}`;
const MiB = 1024 * 1024;
/** Fails unless `p` rejects with a domain error (a code of the closed union, never a driver's). */
async function domainError(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(isErrorCode((err as AppError).code)).toBe(true);
  return err as AppError;
}
/** `data` split in parts of `size` bytes (the last one shorter). */
const split = (data: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));

export function blobStoreConformance(name: string, factory: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let fx: BlobStoreFixture;
    let store: BlobStore;
    beforeAll(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterAll(async () => fx?.cleanup());
    /** The smallest part every store accepts before the last one. */
    let P: number;
    beforeAll(() => {
      P = store.capabilities.minPartSize;
    });
    const begin = (size = 3 * P): Promise<UploadHandle> => store.beginUpload(uploadId(), { size, partSize: P, mime: 'application/octet-stream' });
    /** Writes `data` as parts of P bytes (all at once) and returns their refs in part order. */
    const writeAll = async (up: UploadHandle, parts: Buffer[], order = parts.map((_, i) => i)): Promise<PartRef[]> => {
      const written = await Promise.all(order.map(async (i) => [i, await store.writePart(up, i + 1, stream(parts[i]!), { maxBytes: parts[i]!.length })] as const));
      return written.sort(([a], [b]) => a - b).map(([i, w]) => ref(i + 1, w));
    };

    it('declares its capabilities: the one contract clients are held to (5 MiB – 512 MiB parts, 10,000 of them)', () => {
      const c = store.capabilities;
      expect({ minPartSize: c.minPartSize, maxPartSize: c.maxPartSize, maxParts: c.maxParts }).toEqual({ minPartSize: 5 * MiB, maxPartSize: 512 * MiB, maxParts: 10_000 });
      expect(typeof c.wholeObjectSha256).toBe('boolean');
      expect(typeof c.localPath).toBe('boolean');
      expect(typeof c.distinctPartCopies).toBe('boolean');
      if (!c.localPath) expect(store.accelPathOf(key())).toBeNull();
    });

    it('writePart streams a copy of a part and returns its size, digests and a reference', async () => {
      const up = await begin();
      const a = randomBytes(P);
      const b = randomBytes(10);
      const second = await store.writePart(up, 2, stream(b), { maxBytes: 10 });
      expect(second).toEqual({ size: 10, sha256: sha(b), md5: md5(b), ref: expect.any(String) });
      const first = await store.writePart(up, 1, stream(a.subarray(0, 400), a.subarray(400)), { maxBytes: P });
      expect(first).toEqual({ size: P, sha256: sha(a), md5: md5(a), ref: expect.any(String) });
      expect(await store.writePart(up, 3, stream(b), { maxBytes: 10, md5: false })).toMatchObject({ size: 10, sha256: sha(b), md5: '' });
      const k = key();
      await store.assemble(up, [ref(1, first), ref(2, second)], k);
      expect((await collect(await store.read(k))).equals(Buffer.concat([a, b]))).toBe(true);
    });

    it('a part over maxBytes fails with tooLarge() and leaves no copy', async () => {
      const up = await begin();
      const tooLarge = () => new TooLarge('part_too_large', 'too big');
      await expect(store.writePart(up, 1, stream(randomBytes(600), randomBytes(600)), { maxBytes: 1000, tooLarge })).rejects.toMatchObject({ code: 'part_too_large' });
    });

    it('a re-sent part: disk keeps the copies apart, S3 lets the later one replace the earlier (distinctPartCopies) (F-09)', async () => {
      const up = await begin();
      const good = randomBytes(100);
      const later = randomBytes(100);
      const kept = await store.writePart(up, 1, stream(good), { maxBytes: 100 });
      const resent = await store.writePart(up, 1, stream(later), { maxBytes: 100 });
      expect(resent.ref).not.toBe(kept.ref);
      if (store.capabilities.distinctPartCopies) {
        // The reference the caller keeps decides; the other copy is discarded.
        await store.discardPart(up, ref(1, resent));
        await store.discardPart(up, ref(1, resent)); // idempotent
        const k = key();
        expect(await store.assemble(up, [ref(1, kept)], k)).toMatchObject({ size: 100 });
        expect((await collect(await store.read(k))).equals(good)).toBe(true);
        const k2 = key();
        const other = await store.writePart(up, 1, stream(later), { maxBytes: 100 });
        await store.assemble(up, [ref(1, other)], k2);
        expect((await collect(await store.read(k2))).equals(later)).toBe(true);
      } else {
        // One copy per part number: the earlier one is gone. Naming it fails, names the part,
        // and never puts the later copy's bytes under a key that asked for the earlier one.
        await store.discardPart(up, ref(1, kept)); // no-op, and harmless
        const stale = key();
        const err = await domainError(store.assemble(up, [ref(1, kept)], stale));
        expect(err).toMatchObject({ code: 'upload_incomplete', details: { missing_parts: [1] } });
        expect(await store.stat(stale)).toBeNull();
        const k = key();
        expect(await store.assemble(up, [ref(1, resent)], k)).toMatchObject({ size: 100 });
        expect((await collect(await store.read(k))).equals(later)).toBe(true);
      }
    });

    it('a copy cut short by its source, or ending short of maxBytes, never takes the place of the acknowledged copy', async () => {
      const up = await begin(2 * P);
      const good = randomBytes(P);
      const kept = await store.writePart(up, 1, stream(good), { maxBytes: P });
      // Half the bytes, then the client goes away: never returned.
      await expect(store.writePart(up, 1, failing(good.subarray(0, P / 2)), { maxBytes: P })).rejects.toThrow();
      // The body ends cleanly but short: refused, or returned with its true size (then discarded).
      const short = await store.writePart(up, 1, stream(randomBytes(1000)), { maxBytes: P }).then(
        (w) => w,
        () => null,
      );
      if (short) {
        expect(short.size).toBe(1000);
        expect(store.capabilities.distinctPartCopies).toBe(true); // a store that replaces must refuse it
        await store.discardPart(up, ref(1, short));
      }
      const last = await store.writePart(up, 2, stream(Buffer.from('end')), { maxBytes: 3 });
      const k = key();
      expect(await store.assemble(up, [ref(1, kept), ref(2, last)], k)).toMatchObject({ size: P + 3 });
      expect(sha(await collect(await store.read(k)))).toBe(sha(Buffer.concat([good, Buffer.from('end')])));
    });

    it('two copies of one part sent at once: each reference assembles its own bytes, or fails naming the part — never the other copy', async () => {
      const up = await begin(2 * P);
      const [x, y] = [randomBytes(P), randomBytes(P)];
      const [wx, wy] = await Promise.all([x, y].map((b) => store.writePart(up, 1, stream(...split(b, 256 * 1024)), { maxBytes: P })));
      const last = await store.writePart(up, 2, stream(Buffer.from('!')), { maxBytes: 1 });
      const outcomes: string[] = [];
      // Twice each, in turn: a completion that already ran must not serve the next caller's refs.
      for (const [w, bytes] of [[wx, x], [wy, y], [wx, x], [wy, y]] as const) {
        const k = key();
        const whole = Buffer.concat([bytes, Buffer.from('!')]);
        try {
          const done = await store.assemble(up, [ref(1, w!), ref(2, last)], k);
          expect(done.size).toBe(whole.length);
          if (done.sha256 !== null) expect(done.sha256).toBe(sha(whole));
          expect(sha(await collect(await store.read(k)))).toBe(sha(whole));
          outcomes.push(w === wx ? 'x' : 'y');
        } catch (err) {
          expect(err).toMatchObject({ code: 'upload_incomplete', details: { missing_parts: [1] } });
          expect(await store.stat(k)).toBeNull();
        }
      }
      if (store.capabilities.distinctPartCopies) expect(outcomes).toEqual(['x', 'y', 'x', 'y']);
      else expect([['x', 'x'], ['y', 'y']]).toContainEqual(outcomes); // S3 holds the copy that landed last
    });

    it('assemble naming a copy the store no longer holds fails and creates no object', async () => {
      const up = await begin(P + 10);
      const gone = await store.writePart(up, 1, stream(randomBytes(P)), { maxBytes: P });
      const kept = await store.writePart(up, 2, stream(randomBytes(10)), { maxBytes: 10 });
      if (store.capabilities.distinctPartCopies) await store.discardPart(up, ref(1, gone));
      else await store.writePart(up, 1, stream(randomBytes(P)), { maxBytes: P }); // replaces it
      const k = key();
      await expect(store.assemble(up, [ref(1, gone), ref(2, kept)], k)).rejects.toThrow();
      expect(await store.stat(k)).toBeNull();
    });

    it('assemble joins parts in order into the key; parts stay until abortUpload, which leaves the object whole', async () => {
      const up = await begin();
      const parts = [randomBytes(P), randomBytes(P), randomBytes(17)];
      const written = [];
      for (const [i, p] of [...parts.entries()].reverse()) written[i] = await store.writePart(up, i + 1, stream(p), { maxBytes: p.length });
      const whole = Buffer.concat(parts);
      const refs = written.map((w, i) => ref(i + 1, w));
      const k = key('joined.bin');
      const assembled = await store.assemble(up, refs, k);
      expect(assembled.size).toBe(whole.length);
      if (store.capabilities.wholeObjectSha256) expect(assembled.sha256).toBe(sha(whole));
      else expect([null, sha(whole)]).toContain(assembled.sha256);
      expect((await collect(await store.read(k))).equals(whole)).toBe(true);
      expect(await store.stat(k)).toMatchObject({ size: whole.length, mtime: expect.any(Date) });
      // An interrupted completion can be retried: the parts are still there.
      const again = key('again.bin');
      await store.assemble(up, refs, again);
      expect((await collect(await store.read(again))).equals(whole)).toBe(true);
      await store.abortUpload(up);
      await store.abortUpload(up); // idempotent
      expect((await collect(await store.read(k))).equals(whole)).toBe(true);
      await expect(store.assemble(up, refs, key())).rejects.toThrow();
    });

    it('parts written out of order and in parallel join in part order; a digest, when given, is the whole object\'s', async () => {
      const parts = [randomBytes(P), randomBytes(P), randomBytes(P), randomBytes(1234)];
      const whole = Buffer.concat(parts);
      const up = await begin(whole.length);
      const refs = await writeAll(up, parts, [2, 0, 3, 1]);
      const k = key('parallel.bin');
      const done = await store.assemble(up, refs, k);
      expect(done.size).toBe(whole.length);
      if (store.capabilities.wholeObjectSha256) expect(done.sha256).toBe(sha(whole));
      else expect([null, sha(whole)]).toContain(done.sha256); // never a wrong one
      expect(sha(await collect(await store.read(k)))).toBe(sha(whole));
      await store.abortUpload(up);
    });

    it('parts of exactly minPartSize join; a smaller part before the last is refused with a domain error (no object) or joined exactly', async () => {
      const exact = [randomBytes(P), randomBytes(P), randomBytes(1)];
      const up = await begin(2 * P + 1);
      const k = key('edge.bin');
      await store.assemble(up, await writeAll(up, exact), k);
      expect(sha(await collect(await store.read(k)))).toBe(sha(Buffer.concat(exact)));

      const small = [randomBytes(P - 1), randomBytes(10)];
      const up2 = await begin(P + 9);
      const refs = await writeAll(up2, small);
      const k2 = key('small.bin');
      const joined = await store.assemble(up2, refs, k2).then(
        () => true,
        async (err: unknown) => {
          await domainError(Promise.reject(err));
          return false;
        },
      );
      if (joined) expect(sha(await collect(await store.read(k2)))).toBe(sha(Buffer.concat(small)));
      else expect(await store.stat(k2)).toBeNull();
      await store.abortUpload(up);
      await store.abortUpload(up2);
    });

    it('abortUpload drops every part, idempotently; nothing can be assembled from it afterwards', async () => {
      const parts = [randomBytes(P), randomBytes(100)];
      const up = await begin(P + 100);
      const refs = await writeAll(up, parts);
      await store.abortUpload(up);
      await store.abortUpload(up);
      const k = key('aborted.bin');
      await expect(store.assemble(up, refs, k)).rejects.toThrow();
      expect(await store.stat(k)).toBeNull();
      // An upload begun and aborted before any part arrived.
      const empty = await begin();
      await store.abortUpload(empty);
      await store.abortUpload(empty);
    });

    it('an upload area left behind by one instance is listed by another and aborted through the listed handle (orphan clean-up)', async () => {
      const up = await begin(P + 5);
      const refs = await writeAll(up, [randomBytes(P), randomBytes(5)]);
      const other = await fx.fresh();
      try {
        let found: UploadHandle | undefined;
        for await (const page of other.uploadAreas(Date.now() + 60_000)) found ??= page.find((a) => a.handle.uploadId === up.uploadId)?.handle;
        expect(found, 'the other instance lists the area').toBeDefined();
        await other.abortUpload(found!);
        for await (const page of other.uploadAreas(Date.now() + 60_000)) expect(page.map((a) => a.handle.uploadId)).not.toContain(up.uploadId);
        for await (const page of store.uploadAreas(Date.now() + 60_000)) expect(page.map((a) => a.handle.uploadId)).not.toContain(up.uploadId);
      } finally {
        await other.close();
      }
      const k = key();
      await expect(store.assemble(up, refs, k)).rejects.toThrow();
      expect(await store.stat(k)).toBeNull();
    });

    it('an assembled object never changes, whatever copies of its parts arrive afterwards (a late part racing complete)', async () => {
      for (const parts of [[randomBytes(1000)], [randomBytes(P), randomBytes(3)]]) {
        const whole = Buffer.concat(parts);
        const up = await begin(whole.length);
        const k = key('settled.bin');
        await store.assemble(up, await writeAll(up, parts), k);
        // Copies that reach the store after the completion (the service refuses them with 409).
        // Swift's s3api still accepts an UploadPart once its upload is completed, and the new
        // segment replaces the one the completed object is made of (GET: 409 BrokenMPU).
        for (const [i, p] of parts.entries()) {
          const late = await store.writePart(up, i + 1, stream(randomBytes(p.length)), { maxBytes: p.length }).catch(() => null);
          if (late) await store.discardPart(up, ref(i + 1, late));
        }
        expect(sha(await collect(await store.read(k))), `${parts.length} part(s)`).toBe(sha(whole));
        await store.abortUpload(up);
        expect(sha(await collect(await store.read(k))), `${parts.length} part(s), after abortUpload`).toBe(sha(whole));
        expect(await store.stat(k)).toMatchObject({ size: whole.length });
      }
    });

    it('assemble of a single part gives the object that part, and aborting the upload leaves it whole', async () => {
      const up = await begin();
      const only = randomBytes(4096);
      const w = await store.writePart(up, 1, stream(only), { maxBytes: 4096 });
      const k = key('single.bin');
      expect(await store.assemble(up, [ref(1, w)], k)).toMatchObject({ size: 4096, sha256: sha(only) });
      await store.abortUpload(up);
      expect((await collect(await store.read(k))).equals(only)).toBe(true);
    });

    it('uploadAreas lists areas older than the cut-off a page at a time; an aborted one is gone', async () => {
      const up = await begin();
      await store.writePart(up, 1, stream(Buffer.from('x')), { maxBytes: 1 });
      const listed = async (before: number) => {
        const ids: string[] = [];
        for await (const page of store.uploadAreas(before)) {
          expect(page.length).toBeGreaterThan(0);
          for (const area of page) {
            expect(area.touchedAt).toBeLessThan(before);
            ids.push(area.handle.uploadId);
          }
        }
        return ids;
      };
      expect(await listed(Date.now() - 3_600_000)).not.toContain(up.uploadId);
      expect(await listed(Date.now() + 60_000)).toContain(up.uploadId);
      await store.abortUpload(up);
      expect(await listed(Date.now() + 60_000)).not.toContain(up.uploadId);
      expect(await store.removeTemporary(Date.now() - 3_600_000)).toBe(0);
    });

    it('writeObject stores a whole object within maxBytes; over it, nothing is stored', async () => {
      const data = randomBytes(2048);
      const k = key('obj.bin');
      expect(await store.writeObject(k, stream(data.subarray(0, 1000), data.subarray(1000)), { maxBytes: 2048 })).toEqual({ size: 2048, sha256: sha(data), md5: md5(data) });
      expect(await store.stat(k)).toMatchObject({ size: 2048 });
      const k2 = key('big.bin');
      await expect(store.writeObject(k2, stream(randomBytes(2049)), { maxBytes: 2048 })).rejects.toMatchObject({ code: 'payload_too_large' });
      await expect(store.writeObject(k2, failing(randomBytes(10)), { maxBytes: 2048 })).rejects.toThrow();
      expect(await store.stat(k2)).toBeNull();
    });

    it('writeObject of more than a part\'s worth (a multipart upload on S3) streams whole, hashed; over maxBytes or cut short past a part, nothing is stored', async () => {
      const data = randomBytes(2 * P + 5);
      const k = key('multi.bin');
      expect(await store.writeObject(k, stream(...split(data, 64 * 1024)), { maxBytes: 3 * P })).toEqual({ size: data.length, sha256: sha(data), md5: md5(data) });
      expect(await store.stat(k)).toMatchObject({ size: data.length });
      expect((await collect(await store.read(k, { start: P - 2, end: P + 1 }))).equals(data.subarray(P - 2, P + 2))).toBe(true);
      const k2 = key('multi-big.bin');
      const tooLarge = () => new TooLarge('file_too_large', 'too big');
      await expect(store.writeObject(k2, stream(...split(data, 64 * 1024)), { maxBytes: P + 1, tooLarge })).rejects.toMatchObject({ code: 'file_too_large' });
      expect(await store.stat(k2)).toBeNull();
      const cut = new Readable({ read() {} });
      const written = store.writeObject(k2, cut, { maxBytes: 3 * P });
      for (const chunk of split(data.subarray(0, P + 100), 64 * 1024)) cut.push(chunk);
      setTimeout(() => cut.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' })), 50);
      await expect(written).rejects.toThrow();
      expect(await store.stat(k2)).toBeNull();
      const empty = key('empty.bin');
      expect(await store.writeObject(empty, stream(), { maxBytes: 10 })).toMatchObject({ size: 0, sha256: sha(Buffer.alloc(0)) });
      expect(await store.stat(empty)).toMatchObject({ size: 0 });
      expect((await collect(await store.read(empty))).length).toBe(0);
    });

    it('read gives the whole object or an inclusive byte range', async () => {
      const data = randomBytes(10_000);
      const k = key('range.bin');
      await store.writeObject(k, stream(data), { maxBytes: 10_000 });
      expect((await collect(await store.read(k, { start: 0, end: 0 }))).equals(data.subarray(0, 1))).toBe(true);
      expect((await collect(await store.read(k, { start: 100, end: 199 }))).equals(data.subarray(100, 200))).toBe(true);
      expect((await collect(await store.read(k, { start: 9990, end: 9999 }))).equals(data.subarray(9990))).toBe(true);
      await expect(store.read(key('missing.bin'))).rejects.toThrow();
    });

    it('read of a missing key throws BlobNotFound (file_not_found), not a backend error', async () => {
      await expect(store.read(key('missing.bin'))).rejects.toBeInstanceOf(BlobNotFound);
      await expect(store.read(key('missing.bin'), { start: 0, end: 9 })).rejects.toMatchObject({ code: 'file_not_found' });
    });

    it('range reads at the edges: first and last byte, across a part boundary, the whole object, past the end', async () => {
      const parts = [randomBytes(P), randomBytes(7)];
      const whole = Buffer.concat(parts);
      const up = await begin(whole.length);
      const k = key('edges.bin');
      await store.assemble(up, await writeAll(up, parts), k);
      await store.abortUpload(up);
      const last = whole.length - 1;
      const cases: [number, number][] = [[0, 0], [last, last], [0, last], [P - 1, P], [P - 3, P + 2], [P, last], [last - 1, last + 100]];
      for (const [start, end] of cases) {
        const expected = whole.subarray(start, end + 1);
        expect((await collect(await store.read(k, { start, end }))).equals(expected), `read ${start}-${end}`).toBe(true);
        expect((await store.readSmall(k, { start, end })).equals(expected), `readSmall ${start}-${end}`).toBe(true);
      }
      const one = key('one.bin');
      await store.writeObject(one, stream(Buffer.from('z')), { maxBytes: 1 });
      expect((await collect(await store.read(one, { start: 0, end: 0 }))).toString()).toBe('z');
      expect((await store.readSmall(one, { start: 0, end: 0 })).toString()).toBe('z');
    });

    it('readSmall gives an inclusive byte range in memory, short only past the end', async () => {
      const data = randomBytes(10_000);
      const k = key('small.bin');
      await store.writeObject(k, stream(data), { maxBytes: 10_000 });
      expect((await store.readSmall(k, { start: 0, end: 9999 })).equals(data)).toBe(true);
      expect((await store.readSmall(k, { start: 5, end: 5 })).equals(data.subarray(5, 6))).toBe(true);
      expect((await store.readSmall(k, { start: 9000, end: 10_999 })).equals(data.subarray(9000))).toBe(true);
      await expect(store.readSmall(key('missing.bin'), { start: 0, end: 9 })).rejects.toBeInstanceOf(BlobNotFound);
    });

    it('openReader, where offered: positional reads into the caller\'s buffer, 0 past the end, on disk the bytes kept while open; BlobNotFound when absent', async () => {
      if (!store.openReader) return; // optional: read() serves every download where there is none
      const data = randomBytes(200_000);
      const k = key('reader.bin');
      await store.writeObject(k, stream(data), { maxBytes: data.length });
      await expect(store.openReader(key('missing.bin'))).rejects.toBeInstanceOf(BlobNotFound);
      const reader = await store.openReader(k);
      const buf = Buffer.alloc(70_000, 0xee);
      expect(await reader.read(buf, 0, 70_000, 0)).toBe(70_000);
      expect(buf.equals(data.subarray(0, 70_000))).toBe(true);
      expect(await reader.read(buf, 10, 100, 150_000)).toBe(100);
      expect(buf.subarray(10, 110).equals(data.subarray(150_000, 150_100))).toBe(true);
      expect(await reader.read(buf, 0, 70_000, 190_000)).toBe(10_000); // short only at the end
      expect(buf.subarray(0, 10_000).equals(data.subarray(190_000))).toBe(true);
      expect(await reader.read(buf, 0, 100, 200_000)).toBe(0);
      // Deleting the key: an open file keeps the bytes that were there; on S3 a read that needs
      // a new GET finds nothing (BlobNotFound). Never other bytes.
      await store.delete(k);
      if (store.capabilities.localPath) {
        expect(await reader.read(buf, 0, 1000, 5000)).toBe(1000);
        expect(buf.subarray(0, 1000).equals(data.subarray(5000, 6000))).toBe(true);
      } else {
        await expect(reader.read(buf, 0, 1000, 5000)).rejects.toBeInstanceOf(BlobNotFound);
      }
      await reader.close();
      await reader.close(); // idempotent
    });

    it('stat is null for a missing object; delete removes and is idempotent', async () => {
      const k = key('del.bin');
      expect(await store.stat(k)).toBeNull();
      await store.delete(k);
      await store.writeObject(k, stream(Buffer.from('x')), { maxBytes: 1 });
      await store.delete(k);
      expect(await store.stat(k)).toBeNull();
    });

    it('move: the bytes under the new key, the old one gone, no copy needed; commit false keeps the old; a move interrupted at any step finishes when run again', async () => {
      const data = randomBytes(3000);
      const [from, to] = [key('mv from 字.bin'), key('mv to é 😀.bin', 'docs/deeper')];
      await store.writeObject(from, stream(data), { maxBytes: data.length });
      let commits = 0;
      // The commit fails (a crash before the record switched): the old key still reads whole.
      await expect(store.move(from, to, async () => Promise.reject(new Error('crash')))).rejects.toThrow('crash');
      expect((await collect(await store.read(from))).equals(data)).toBe(true);
      // The record was not there any more: the new key goes, the old stays.
      expect(await store.move(from, to, async () => false)).toBe(false);
      expect(await store.stat(to)).toBeNull();
      expect((await collect(await store.read(from))).equals(data)).toBe(true);
      expect(await store.move(from, to, async () => (++commits, true))).toBe(true);
      expect(commits).toBe(1);
      expect(await store.stat(from)).toBeNull();
      expect((await collect(await store.read(to))).equals(data)).toBe(true);
      // Run again after it finished (a crash before the journal row went): commit confirms, nothing changes.
      expect(await store.move(from, to, async () => (++commits, true))).toBe(true);
      expect(commits).toBe(2);
      expect((await collect(await store.read(to))).equals(data)).toBe(true);
      await expect(store.move(key('nothing.bin'), key(), async () => true)).rejects.toBeInstanceOf(BlobNotFound);
    });

    it('move of an assembled object, before and after its upload is aborted (a completion committed): the bytes stay under the new key until it is deleted', async () => {
      const up = await begin();
      const parts = [randomBytes(P), randomBytes(99)];
      const whole = Buffer.concat(parts);
      const refs = await writeAll(up, parts);
      const [k1, k2, k3] = [key('a1.bin'), key('a2.bin', 'x'), key('a3.bin', 'y/z')];
      await store.assemble(up, refs, k1);
      expect(await store.move(k1, k2, async () => true)).toBe(true); // before the completion's abortUpload
      await store.abortUpload(up);
      expect((await collect(await store.read(k2))).equals(whole)).toBe(true);
      expect(await store.move(k2, k3, async () => true)).toBe(true); // after it
      await store.abortUpload(up);
      expect(await store.stat(k2)).toBeNull();
      expect((await collect(await store.read(k3, { start: P - 1, end: P + 1 }))).equals(whole.subarray(P - 1, P + 2))).toBe(true);
      await store.delete(k3);
      expect(await store.stat(k3)).toBeNull();
    });

    it('holds any valid name: CJK, emoji, spaces, and the longest key', async () => {
      const seg = (i: number) => String(i).padStart(2, '0') + '字'.repeat(84) + 'x';
      const longest = `storage/${'u'.repeat(128)}/${Array.from({ length: 32 }, (_, i) => seg(i)).join('/')}/${'0'.repeat(32)}_${'🎉'.repeat(63)}a.b`;
      for (const k of [key('報告 🎉 final.pdf', '写真/2024 夏'), longest]) {
        const data = randomBytes(300);
        await store.writeObject(k, stream(data), { maxBytes: 300 });
        expect(await store.stat(k)).toMatchObject({ size: 300 });
        expect((await collect(await store.read(k, { start: 10, end: 19 }))).equals(data.subarray(10, 20))).toBe(true);
        await store.delete(k);
        expect(await store.stat(k)).toBeNull();
      }
    });

    it('accelPathOf is null, or a relative path that stays inside the root, for every valid key (F-11a)', async () => {
      const seg = (i: number) => String(i).padStart(2, '0') + '字'.repeat(84) + 'x';
      const longest = `storage/${'u'.repeat(128)}/${Array.from({ length: 32 }, (_, i) => seg(i)).join('/')}/${'0'.repeat(32)}_${'🎉'.repeat(63)}a.b`;
      for (const k of [key(), key('中'.repeat(85)), longest]) {
        const where = store.accelPathOf(k);
        if (where === null) continue;
        expect(where.startsWith('/')).toBe(false);
        expect(where.split('/').every((s) => s !== '' && s !== '.' && s !== '..')).toBe(true);
        // Short enough for a redirect header and a file system path.
        expect(Buffer.byteLength(where)).toBeLessThan(4096);
      }
    });

    it('refuses keys and uploadIds that could escape, on every method', async () => {
      const bad = ['../escape', 'storage/u/../../x', '/etc/passwd', 'storage/u/a\\..\\b', 'storage/u/a\u0000'];
      for (const k of bad) {
        await expect(store.writeObject(k, stream(Buffer.from('x')), { maxBytes: 1 })).rejects.toMatchObject({ code: 'invalid_key' });
        await expect(store.read(k)).rejects.toMatchObject({ code: 'invalid_key' });
        await expect(store.stat(k)).rejects.toMatchObject({ code: 'invalid_key' });
        await expect(store.delete(k)).rejects.toMatchObject({ code: 'invalid_key' });
      }
      for (const id of ['../x', '..', 'a/b', '', 'short']) {
        await expect(store.beginUpload(id, { size: 1, partSize: 1, mime: 'text/plain' })).rejects.toMatchObject({ code: 'invalid_upload_id' });
        const forged = { uploadId: id, ref: '' };
        await expect(store.writePart(forged, 1, stream(Buffer.from('x')), { maxBytes: 1 })).rejects.toMatchObject({ code: 'invalid_upload_id' });
        await expect(store.abortUpload(forged)).rejects.toMatchObject({ code: 'invalid_upload_id' });
      }
    });

    it('removeOrphanObjects removes objects no record names once old enough, long keys included; named or young ones stay (F-13)', async () => {
      const named = key('named.bin');
      const orphan = key('orphan.bin');
      const longNamed = key(`${'x'.repeat(250)}.bin`);
      const longOrphan = key(`${'y'.repeat(250)}.bin`);
      for (const k of [named, orphan, longNamed, longOrphan]) await store.writeObject(k, stream(Buffer.from('bytes')), { maxBytes: 100 });
      const recorded = new Set([named, longNamed]);
      const scan = (writtenBefore: number) => ({
        writtenBefore,
        named: async (keys: string[]) => new Set(keys.filter((k) => recorded.has(k))),
        longKeys: async function* (minBytes: number) {
          yield [...recorded].filter((k) => Buffer.byteLength(k) >= minBytes);
        },
      });
      expect(await store.removeOrphanObjects(scan(Date.now() - 3_600_000))).toBe(0); // all written just now
      // At least these two (objects other tests left in this store are orphans here too).
      expect(await store.removeOrphanObjects(scan(Date.now() + 60_000))).toBeGreaterThanOrEqual(2);
      expect(await store.stat(named)).not.toBeNull();
      expect(await store.stat(longNamed)).not.toBeNull();
      expect(await store.stat(orphan)).toBeNull();
      expect(await store.stat(longOrphan)).toBeNull();
    });

    it('reports health', async () => {
      const h = await store.health();
      expect(h.writable).toBe(true);
      if (h.capacity) {
        expect(h.capacity.totalBytes).toBeGreaterThan(0);
        expect(h.capacity.freeBytes).toBeGreaterThan(0);
      }
    });

    it('close releases what the store holds', async () => {
      await expect(fx.fresh().then((other) => other.close())).resolves.toBeUndefined();
    });
  });
}
