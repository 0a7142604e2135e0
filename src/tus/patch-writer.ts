/**
 * A PATCH body is a byte range at an offset; our uploads take fixed-size parts. This cuts the
 * body into the upload's parts as it streams:
 *  - a part the body fills (with the stored tail of that part in front) is streamed straight
 *    into UploadService.putPart, which checks, stores and records it like a native part; once
 *    its bytes are all read, the next part is read while it is still being recorded (one part
 *    at most behind: the PATCH answers only when every part it read is recorded);
 *  - what is left at the end (less than a part, the upload not finished) becomes the new tail
 *    object (state.ts), written whole once the body has ended — and only after the PATCH's
 *    Upload-Checksum matched, so a refused PATCH never replaces the tail it started from.
 * Whether a part is filled is known from Content-Length. A chunked body (tus-js-client in
 * Node sends Buffers and streams that way) is streamed into putPart as it arrives too, while
 * the bytes of that part are copied aside (≤ one part per PATCH in flight): if the body ends
 * before the part is full, the part write is failed on purpose (the stores never record a
 * short part: disk checks the size, S3 holds back the last byte) and the copy becomes the
 * tail. A PATCH cut short keeps the whole parts it recorded and drops the rest: the offset
 * HEAD reports is what is durable. With an Upload-Checksum, the parts it recorded are
 * forgotten again on a mismatch or a cut (the checksum covers the whole body).
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { PartRecord } from '../db/types.js';
import { TooLarge, TusProtocolError } from '../errors/index.js';
import { movableChunks, type BlobStore } from '../storage/blob-store.js';
import type { UploadService } from '../files/upload-service.js';
import { handleOf } from '../files/upload-service.js';
import type { UploadStore } from '../db/upload-types.js';
import type { Clock } from '../util/clock.js';
import type { ChecksumAlgorithm } from './protocol.js';
import { isDeferred, sizeOfPart, tailKey, type TusState } from './state.js';

/** Reads an async byte source in pieces of a requested size, hashing what it reads. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer | null = null;
  ended = false;

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly hash: Hash | null,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (max > 0), or null at the end of the source. */
  async next(max: number): Promise<Buffer | null> {
    let chunk = this.pending;
    this.pending = null;
    while (!chunk || chunk.length === 0) {
      if (this.ended) return null;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      this.hash?.update(chunk);
    }
    if (chunk.length > max) {
      this.pending = chunk.subarray(max);
      chunk = chunk.subarray(0, max);
    }
    return chunk;
  }

  /** Streams up to `n` bytes (fewer when the source ends first). */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const chunk = await this.next(left);
      if (!chunk) return;
      left -= chunk.length;
      yield chunk;
    }
  }

}

/** Thrown into a part's stream when the body ends before the part is full (never reaches the client). */
class ShortBody extends Error {}

/**
 * Part-sized buffers that hold a copy of what went into a part of unknown length, reused
 * across parts and PATCHes: a copy (a memcpy) lets the body's chunks die young, where keeping
 * them until the part is recorded had them promoted and collected by full GCs. Two of at
 * least 1 MiB are kept between PATCHes (≤ 2 parts of memory idle).
 */
const spares: Buffer[] = [];
const takeSpare = (size: number): Buffer => {
  const i = spares.findIndex((b) => b.length >= size);
  return i >= 0 ? spares.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(size);
};
const giveBack = (b: Buffer | null): void => void (b && b.length >= 1024 * 1024 && spares.length < 2 && spares.push(b));

/**
 * The next `need` bytes as a part's body, for a body of unknown length. `copy` holds what
 * went out and `short` says the body ended first; then the stream fails, so that no store
 * records the part, and copy[0, got) is what the body had of it.
 */
function partStream(reader: ByteReader, need: number, first: Buffer, copy: Buffer) {
  const out = { got: 0, short: false };
  const source = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of joined([first], reader.take(need - first.length))) {
      chunk.copy(copy, out.got);
      out.got += chunk.length;
      yield chunk;
    }
    if (out.got < need) {
      out.short = true;
      throw new ShortBody('the body ended inside this part');
    }
  };
  return { source: source(), out };
}

const total = (chunks: Buffer[]): number => chunks.reduce((n, c) => n + c.length, 0);

/** Up to `n` bytes in memory (a declared body's last bytes, less than a part). */
async function collect(reader: ByteReader, n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of reader.take(n)) out.push(chunk);
  return out;
}

async function* joined(...sources: (AsyncIterable<Buffer> | Iterable<Buffer>)[]): AsyncGenerator<Buffer> {
  for (const s of sources) for await (const c of s) yield c;
}

async function* copied(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const c of source) yield Buffer.from(c);
}

/** An empty source that calls `fn` when it is reached: after the sources before it in joined(). */
function* signal(fn: () => void): Generator<Buffer> {
  fn();
}

export interface PatchDeps {
  uploads: UploadService;
  store: UploadStore;
  blobs: BlobStore;
  clock: Clock;
}

export interface PatchInput {
  body: AsyncIterable<Buffer>;
  /** Content-Length, when declared. */
  length?: number;
  checksum?: { algorithm: ChecksumAlgorithm; digest: string };
}

/** Writes the body at `state.offset`; returns the new offset. The caller holds the upload's PATCH lease. */
export async function writeBody(d: PatchDeps, principal: Principal, state: TusState, input: PatchInput): Promise<number> {
  const { upload } = state;
  const tooLarge = () =>
    isDeferred(upload)
      ? new TooLarge('payload_too_large', `The body goes past the MAX_BODY_MB limit (${upload.size} bytes) before Upload-Length was sent`)
      : new TooLarge('payload_too_large', `The body goes past Upload-Length (${upload.size} bytes)`);
  // "The Server MUST NOT accept more bytes than Upload-Length" (a declared excess is refused before a byte is read).
  if (input.length !== undefined && state.offset + input.length > upload.size) throw tooLarge();
  const hash = input.checksum ? createHash(input.checksum.algorithm) : null;
  const reader = new ByteReader(input.body, hash);
  const recorded: PartRecord[] = [];
  let read = state.whole; // parts whose bytes this PATCH has read (recorded once `stored` settles)
  let tail = state.tail;
  let offset = state.offset;
  let remaining = input.length;
  let newTail: Buffer[] | null = null;
  let copy: Buffer | null = null;
  // The part whose bytes were all read and that is still being stored: one at most, behind the
  // part being read, so the body keeps flowing while a part is renamed and recorded (on S3,
  // while UploadPart answers).
  let storing: Promise<void> | null = null;
  const begun: Promise<void>[] = []; // every part write this PATCH started, settled before it returns
  const settle = async (): Promise<void> => {
    const s = storing;
    storing = null;
    await s;
  };
  let done = false;
  try {
    while (offset < upload.size) {
      const n = read + 1;
      const need = sizeOfPart(upload, n) - tail;
      let source: AsyncIterable<Buffer>;
      let out: { short: boolean; got: number } | null = null;
      if (remaining !== undefined) {
        if (remaining < need) {
          newTail = await collect(reader, need);
          break;
        }
        source = reader.take(need);
      } else {
        // Unknown length: a body that ends on a part boundary costs no part write.
        const first = await reader.next(need);
        if (!first) {
          newTail = [];
          break;
        }
        copy ??= takeSpare(Math.min(upload.partSize, upload.size)); // ≥ any part's size
        ({ source, out } = partStream(reader, need, first, copy));
      }
      // The stored tail's chunks are copied (a store may read through recycled buffers); the
      // body's own are not read again once written (a copy went aside first, or none is kept).
      const prefix = tail > 0 ? copied(await d.blobs.read(tailKey(upload, n))) : [];
      let allRead!: () => void;
      const partRead = new Promise<void>((resolve) => (allRead = resolve));
      const body = movableChunks(Readable.from(joined(prefix, source, signal(allRead))));
      const stored = d.uploads.putPart(principal, upload.id, n, body, { contentLength: sizeOfPart(upload, n) }).then((part) => void recorded.push(part));
      begun.push(stored);
      try {
        await Promise.race([partRead, stored]);
      } catch (err) {
        if (!out?.short) throw err;
        newTail = [copy!.subarray(0, out.got)];
        break;
      }
      await settle();
      storing = stored;
      if (remaining !== undefined) remaining -= need;
      read = n;
      offset += need;
      tail = 0;
    }
    await settle();
    if (offset >= upload.size && (await reader.next(1))) throw tooLarge();
    // A declared body that ended early is a cut, not a short PATCH.
    if (remaining !== undefined && newTail && total(newTail) !== remaining) throw new Error('request body ended before Content-Length');
    // "If the checksums do not match, the Server MUST respond with 460 Checksum Mismatch" and keep none of the bytes.
    if (input.checksum && hash!.digest('base64') !== input.checksum.digest) {
      throw new TusProtocolError('upload_checksum_mismatch', `Upload-Checksum: the ${input.checksum.algorithm} of the body does not match`);
    }
    if (newTail && total(newTail) > 0) {
      const n = read + 1;
      const prefix = tail > 0 ? await d.blobs.read(tailKey(upload, n)) : [];
      const size = tail + total(newTail);
      await d.blobs.writeObject(tailKey(upload, n), Readable.from(joined(prefix, newTail)), { maxBytes: size, md5: false });
      offset += total(newTail);
    }
    done = true;
  } finally {
    await Promise.allSettled(begun); // before the lease goes, and before a rollback looks at `recorded`
    giveBack(copy);
    if (!done && input.checksum) await forget(d, state, recorded);
    else if (state.tail > 0 && recorded.some((p) => p.partNumber === state.whole + 1)) await d.blobs.delete(tailKey(upload, state.whole + 1)).catch(() => undefined); // stale now
  }
  return offset;
}

/**
 * Records the upload's last part from its tail object (or an empty part): for a length fixed
 * late (Upload-Length on a PATCH of a deferred upload) that ends exactly where the bytes
 * received end, so no body will ever fill that part. The caller holds the PATCH lease.
 */
export async function recordTail(d: PatchDeps, principal: Principal, state: TusState): Promise<void> {
  const n = state.whole + 1;
  const key = tailKey(state.upload, n);
  const bytes = state.tail > 0 ? await d.blobs.read(key) : [];
  await d.uploads.putPart(principal, state.upload.id, n, Readable.from(bytes), { contentLength: state.tail });
  if (state.tail > 0) await d.blobs.delete(key).catch(() => undefined); // stale now
}

/** Rolls back the parts this PATCH recorded (a checksum mismatch, or a PATCH with a checksum cut short). */
async function forget(d: PatchDeps, state: TusState, recorded: PartRecord[]): Promise<void> {
  for (const part of recorded) {
    await d.store.dropPart(state.upload.id, part.partNumber, d.clock.now()).catch(() => undefined);
    await d.blobs.discardPart(handleOf(state.upload), part).catch(() => undefined);
  }
}
