/**
 * S3 reads (object-reader.ts, body-tap.ts): ranged GETs of at most readSegmentBytes each, in
 * turn, copied into the caller's buffers by positional reads. The bytes come back exactly,
 * whatever the range, through an alias too; reads that follow each other share the GETs already
 * open; a segment that comes back short, or an object deleted mid-read, fails the read instead
 * of ending it early; closing releases the body being read and the GET sent ahead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartRef } from '../../src/storage/blob-store.js';
import { S3ObjectReader, type ByteSpan } from '../../src/storage/s3/object-reader.js';
import type { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import { describeS3, freshS3, s3StoreOn, type S3Place } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const SEGMENT = MiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const key = (name: string) => `storage/seg/${randomBytes(12).toString('hex')}_${name}`;
async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('S3ObjectReader (plain streams)', () => {
  const bytes = randomBytes(100_000);
  /** Bytes `start` through `end` in chunks of 3,000, as an HTTP body would bring them. */
  const body = (r: ByteSpan, cut = 0) => {
    const chunks: Buffer[] = [];
    for (let at = r.start; at <= r.end - cut; at += 3000) chunks.push(bytes.subarray(at, Math.min(r.end - cut + 1, at + 3000)));
    return Readable.from(chunks);
  };
  /** Everything read from `position` on in reads of `size`, as FileSource would ask. */
  async function readAll(reader: S3ObjectReader, position: number, size: number, until: number): Promise<Buffer> {
    const out: Buffer[] = [];
    while (position <= until) {
      const buf = Buffer.alloc(Math.min(size, until - position + 1));
      const n = await reader.read(buf, 0, buf.length, position);
      if (n === 0) break;
      out.push(buf.subarray(0, n));
      position += n;
    }
    return Buffer.concat(out);
  }

  it('joins the segments of its span in order, asking for each next one as the current one starts; reads split chunks freely', async () => {
    const asked: ByteSpan[] = [];
    const get = async (r: ByteSpan) => (asked.push(r), body(r));
    const reader = new S3ObjectReader(bytes.length, { start: 10, end: 9000 }, { body: body({ start: 10, end: 2009 }), range: { start: 10, end: 2009 } }, get, 2000);
    expect((await readAll(reader, 10, 4500, 9000)).equals(bytes.subarray(10, 9001))).toBe(true);
    expect(asked).toEqual([
      { start: 2010, end: 4009 },
      { start: 4010, end: 6009 },
      { start: 6010, end: 8009 },
      { start: 8010, end: 9000 },
    ]);
    // On past the span: GETs up to the object's end; 0 at the end.
    expect((await readAll(reader, 9001, 7000, bytes.length)).equals(bytes.subarray(9001))).toBe(true);
    const after: ByteSpan[] = [];
    for (let start = 9001; start < bytes.length; start += 2000) after.push({ start, end: Math.min(bytes.length - 1, start + 1999) });
    expect(asked.slice(4)).toEqual(after);
    expect(await reader.read(Buffer.alloc(10), 0, 10, bytes.length)).toBe(0);
    await reader.close();
  });

  it('a read elsewhere (backwards: a read-ahead let go) opens GETs from there', async () => {
    const asked: ByteSpan[] = [];
    const get = async (r: ByteSpan) => (asked.push(r), body(r));
    const reader = new S3ObjectReader(bytes.length, { start: 0, end: 49_999 }, { body: body({ start: 0, end: 49_999 }), range: { start: 0, end: 49_999 } }, get, 50_000);
    const buf = Buffer.alloc(20_000);
    expect(await readAll(reader, 0, 20_000, 29_999)).toHaveLength(30_000);
    expect(await reader.read(buf, 0, 20_000, 15_000)).toBe(20_000);
    expect(buf.equals(bytes.subarray(15_000, 35_000))).toBe(true);
    expect(asked).toEqual([{ start: 15_000, end: 49_999 }]);
    await reader.close();
  });

  it('a segment shorter than asked, or one the store says is past the end, fails the read', async () => {
    const short = new S3ObjectReader(bytes.length, { start: 0, end: 2999 }, { body: body({ start: 0, end: 999 }), range: { start: 0, end: 999 } }, async (r) => body(r, 1), 1000);
    await expect(readAll(short, 0, 1000, 2999)).rejects.toThrow(/bytes 1000-1999 .* 999 bytes long/);
    const gone = new S3ObjectReader(bytes.length, { start: 0, end: 2999 }, { body: body({ start: 0, end: 999 }), range: { start: 0, end: 999 } }, async () => null, 1000);
    await expect(readAll(gone, 0, 1000, 2999)).rejects.toThrow(/ends before byte 1000/);
    const broken = new Readable({ read() { this.destroy(new Error('connection reset')); } });
    const reset = new S3ObjectReader(bytes.length, { start: 0, end: 999 }, { body: broken, range: { start: 0, end: 999 } }, async () => null, 1000);
    await expect(reset.read(Buffer.alloc(10), 0, 10, 0)).rejects.toThrow(/connection reset/);
  });

  it('a connection lost mid-segment is taken up again from the next byte owed, once per read; a GET sent ahead and lost meanwhile is sent again', async () => {
    /** A body that gives `upTo` bytes of `r`, then fails as a reset connection does. */
    const failing = (r: ByteSpan, upTo: number) => {
      const chunks = [bytes.subarray(r.start, r.start + upTo)];
      let i = 0;
      return new Readable({
        read() {
          if (i < chunks.length) this.push(chunks[i++]);
          else this.destroy(new Error('socket hang up'));
        },
      });
    };
    const asked: ByteSpan[] = [];
    const get = async (r: ByteSpan) => (asked.push(r), body(r));
    const reader = new S3ObjectReader(bytes.length, { start: 0, end: 39_999 }, { body: failing({ start: 0, end: 19_999 }, 7000), range: { start: 0, end: 19_999 } }, get, 20_000);
    expect((await readAll(reader, 0, 16_000, 39_999)).equals(bytes.subarray(0, 40_000))).toBe(true);
    expect(asked).toEqual([
      { start: 20_000, end: 39_999 }, // sent ahead as the first segment started (dropped with it)
      { start: 7000, end: 26_999 }, // the failed connection, again from byte 7000 (segments from there)
      { start: 27_000, end: 39_999 },
    ]);
    // Sent ahead and lost before its turn (destroyed, as an idle timeout does): asked for again.
    const again: ByteSpan[] = [];
    let lost = false;
    const losing = async (r: ByteSpan) => {
      again.push(r);
      const b = body(r);
      if (r.start === 20_000 && !lost) {
        lost = true;
        b.destroy();
      }
      return b;
    };
    const second = new S3ObjectReader(bytes.length, { start: 0, end: 39_999 }, { body: body({ start: 0, end: 19_999 }), range: { start: 0, end: 19_999 } }, losing, 20_000);
    expect((await readAll(second, 0, 16_000, 39_999)).equals(bytes.subarray(0, 40_000))).toBe(true);
    expect(again).toEqual([
      { start: 20_000, end: 39_999 },
      { start: 20_000, end: 39_999 },
    ]);
    // Twice in one read: the read fails.
    const twice = new S3ObjectReader(bytes.length, { start: 0, end: 9999 }, { body: failing({ start: 0, end: 9999 }, 1000), range: { start: 0, end: 9999 } }, async (r) => failing(r, 500), 10_000);
    await expect(twice.read(Buffer.alloc(5000), 0, 5000, 0)).rejects.toThrow(/socket hang up/);
  });

  it('close destroys the body being read and the one asked for ahead, and refuses reads', async () => {
    const opened: Readable[] = [];
    const get = async (r: ByteSpan) => {
      const b = body(r);
      opened.push(b);
      return b;
    };
    const first = body({ start: 0, end: 9999 });
    const reader = new S3ObjectReader(bytes.length, { start: 0, end: 49_999 }, { body: first, range: { start: 0, end: 9999 } }, get, 10_000);
    const buf = Buffer.alloc(5000);
    expect(await reader.read(buf, 0, 5000, 0)).toBe(5000);
    await reader.close();
    await reader.close();
    await new Promise((r) => setImmediate(r));
    expect(first.destroyed).toBe(true);
    expect(opened).toHaveLength(1);
    expect(opened[0]!.destroyed).toBe(true);
    await expect(reader.read(buf, 0, 10, 5000)).rejects.toThrow(/after close/);
  });
});

describeS3('S3BlobStore reads in segments, on S3', () => {
  let place: S3Place;
  let store: S3BlobStore;
  let gets: string[];
  beforeAll(async () => {
    place = await freshS3('segread');
    store = s3StoreOn(place, { objectPartBytes: 5 * MiB, readSegmentBytes: SEGMENT });
    gets = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand') gets.push(String((args.input as { Range?: string }).Range));
        return next(args);
      },
      { step: 'initialize', name: 'countGets' },
    );
  });
  afterAll(async () => {
    await store?.close();
    await place?.drop();
  });

  it('a whole object is read as GETs of one segment each; any range comes back exactly', async () => {
    const bytes = randomBytes(3 * SEGMENT + 4321);
    const k = key('whole.bin');
    await store.writeObject(k, Readable.from([bytes]), { maxBytes: bytes.length });
    gets.length = 0;
    expect(sha(await collect(await store.read(k)))).toBe(sha(bytes));
    expect(gets).toEqual([`bytes=0-${SEGMENT - 1}`, `bytes=${SEGMENT}-${2 * SEGMENT - 1}`, `bytes=${2 * SEGMENT}-${3 * SEGMENT - 1}`, `bytes=${3 * SEGMENT}-${bytes.length - 1}`]);
    const ranges: ByteSpan[] = [
      { start: 0, end: 0 },
      { start: SEGMENT - 1, end: SEGMENT }, // across a segment's edge
      { start: 5, end: SEGMENT + 4 }, // exactly one segment long, not aligned
      { start: 17, end: 3 * SEGMENT + 99 },
      { start: SEGMENT, end: bytes.length - 1 },
      { start: bytes.length - 1, end: bytes.length - 1 },
    ];
    for (const r of ranges) {
      const got = await collect(await store.read(k, r));
      expect(got.equals(bytes.subarray(r.start, r.end + 1)), `range ${r.start}-${r.end}`).toBe(true);
    }
  });

  it('through an alias (a chunked upload\'s file) too, resolved once', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(333)];
    const up = await store.beginUpload('SEG' + randomBytes(8).toString('hex'), { size: 5 * MiB + 333, partSize: 5 * MiB, mime: 'application/octet-stream' });
    const refs: PartRef[] = [];
    for (const [i, p] of parts.entries()) {
      const w = await store.writePart(up, i + 1, Readable.from([p]), { maxBytes: p.length });
      refs.push({ partNumber: i + 1, ref: w.ref, size: w.size, sha256: w.sha256 });
    }
    const k = key('aliased.bin');
    await store.assemble(up, refs, k);
    const whole = Buffer.concat(parts);
    expect(sha(await collect(await store.read(k)))).toBe(sha(whole));
    const r = { start: 2 * SEGMENT - 10, end: 4 * SEGMENT + 10 };
    expect((await collect(await store.read(k, r))).equals(whole.subarray(r.start, r.end + 1))).toBe(true);
  });

  it('a reader that stalls past the S3 idle timeout reads on: the connections that timed out are asked for again', async () => {
    const impatient = s3StoreOn(place, { readSegmentBytes: SEGMENT, timeouts: { connectMs: 5000, idleMs: 300 } });
    try {
      const bytes = randomBytes(3 * SEGMENT + 10);
      const k = key('stalled.bin');
      await impatient.writeObject(k, Readable.from([bytes]), { maxBytes: bytes.length });
      const reader = await impatient.openReader(k);
      const buf = Buffer.alloc(bytes.length);
      expect(await reader.read(buf, 0, 64 * 1024, 0)).toBe(64 * 1024);
      await new Promise((r) => setTimeout(r, 1200)); // both the segment being read and the one sent ahead time out
      let at = 64 * 1024;
      while (at < bytes.length) {
        const n = await reader.read(buf, at, Math.min(512 * 1024, bytes.length - at), at);
        expect(n).toBeGreaterThan(0);
        at += n;
      }
      expect(buf.equals(bytes)).toBe(true);
      await reader.close();
    } finally {
      await impatient.close();
    }
  });

  it('an object deleted while it is read fails the read: never a body that just ends early', async () => {
    const bytes = randomBytes(6 * SEGMENT);
    const k = key('deleted.bin');
    await store.writeObject(k, Readable.from([bytes]), { maxBytes: bytes.length });
    const s = await store.read(k);
    let got = 0;
    const read = (async () => {
      for await (const c of s) {
        if (got === 0) await store.delete(k);
        got += (c as Buffer).length;
      }
    })();
    await expect(read).rejects.toThrow();
    expect(got).toBeLessThan(bytes.length);
    // The same store reads other objects afterwards: nothing stuck in its socket pool.
    const other = key('after.bin');
    await store.writeObject(other, Readable.from([Buffer.from('still here')]), { maxBytes: 10 });
    expect((await collect(await store.read(other))).toString()).toBe('still here');
    expect((await store.client.send(new GetObjectCommand({ Bucket: place.bucket, Key: place.prefix + other }))).ContentLength).toBe(10);
  });
});
