/**
 * Long S3 reads are ranged GETs of at most readSegmentBytes each, in turn (segmented-read.ts):
 * the bytes come back exactly, whatever the range, through an alias too; a segment that comes
 * back short, or an object deleted mid-read, fails the stream instead of ending it early; a
 * reader that stops early releases the GET asked for ahead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartRef } from '../../src/storage/blob-store.js';
import { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import { segmentedRead, type ByteSpan } from '../../src/storage/s3/segmented-read.js';
import { describeS3, freshS3, s3Settings, type S3Place } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const SEGMENT = MiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const key = (name: string) => `storage/seg/${randomBytes(12).toString('hex')}_${name}`;
async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('segmentedRead (plain streams)', () => {
  const bytes = randomBytes(10_000);
  const body = (r: ByteSpan) => Readable.from([bytes.subarray(r.start, r.start + 700), bytes.subarray(r.start + 700, r.end + 1)]);

  it('joins the segments of a span in order, asking for each next one while the current one streams', async () => {
    const asked: ByteSpan[] = [];
    const get = async (r: ByteSpan) => (asked.push(r), body(r));
    const out = await collect(segmentedRead(body({ start: 10, end: 2009 }), 2009, { start: 10, end: 9000 }, 2000, get));
    expect(out.equals(bytes.subarray(10, 9001))).toBe(true);
    expect(asked).toEqual([
      { start: 2010, end: 4009 },
      { start: 4010, end: 6009 },
      { start: 6010, end: 8009 },
      { start: 8010, end: 9000 },
    ]);
  });

  it('a segment shorter than asked, or one the store says is past the end, fails the stream', async () => {
    const short = async (r: ByteSpan) => body({ start: r.start, end: r.end - 1 });
    await expect(collect(segmentedRead(body({ start: 0, end: 999 }), 999, { start: 0, end: 2999 }, 1000, short))).rejects.toThrow(/bytes 1000-1999 .* 999 bytes long/);
    const gone = async () => null;
    await expect(collect(segmentedRead(body({ start: 0, end: 999 }), 999, { start: 0, end: 2999 }, 1000, gone))).rejects.toThrow(/ends before byte 1000/);
  });

  it('destroyed early, it destroys the body it reads and the one asked for ahead', async () => {
    // Chunks larger than the stream's buffer, so that nothing is read ahead of the consumer.
    const big = randomBytes(500_000);
    const bigBody = (r: ByteSpan) => Readable.from([big.subarray(r.start, r.start + 70_000), big.subarray(r.start + 70_000, r.end + 1)]);
    const opened: Readable[] = [];
    const get = async (r: ByteSpan) => {
      const b = bigBody(r);
      opened.push(b);
      return b;
    };
    const first = bigBody({ start: 0, end: 99_999 });
    const s = segmentedRead(first, 99_999, { start: 0, end: 499_999 }, 100_000, get);
    for await (const chunk of s) {
      expect((chunk as Buffer).equals(big.subarray(0, 70_000))).toBe(true);
      break; // one chunk, then gone
    }
    await new Promise((r) => setImmediate(r));
    expect(first.destroyed).toBe(true);
    expect(opened).toHaveLength(1);
    expect(opened[0]!.destroyed).toBe(true);
  });
});

describeS3('S3BlobStore reads in segments', () => {
  let place: S3Place;
  let store: S3BlobStore;
  let gets: string[];
  beforeAll(async () => {
    place = await freshS3('segread');
    const s = s3Settings();
    store = new S3BlobStore(
      { endpoint: s.endpoint, region: s.region, bucket: place.bucket, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, forcePathStyle: s.forcePathStyle, prefix: place.prefix },
      { objectPartBytes: 5 * MiB, readSegmentBytes: SEGMENT },
    );
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
