/**
 * Where an upload's bytes go on disk: a Writable onto [start, limit) of an open file that
 * counts, refuses more than maxBytes, writes each buffered batch (up to 4 MiB) with one
 * pwritev, and hands every written batch to the hash worker (util/hash-worker.ts), which keeps
 * the SHA-256 (and MD5) off the event loop. The digests are asked for once the body has ended,
 * beside the fdatasync that makes the bytes durable.
 */
import { IncomingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { TooLarge } from '../errors/index.js';
import type { StreamHash } from '../util/hash-worker.js';
import { marksChunksMovable, type WrittenBlob } from './blob-store.js';

export const WRITE_BUFFER = 4 * 1024 * 1024;

/** Writes every byte of `bufs` at `position` (a regular file may take fewer bytes per call). */
export async function writeAllAt(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let pos = position;
  let left = bufs.filter((b) => b.length > 0);
  while (left.length > 0) {
    const { bytesWritten } = await fh.writev(left, pos);
    pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of left) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    left = rest;
  }
}

/**
 * A request body straight off the socket: Node's HTTP parser gives each chunk an ArrayBuffer of
 * its own, and nothing in this server keeps a body chunk once it is written, so the chunks may
 * be moved to the hash worker instead of copied; so may those of a stream marked by
 * movableChunks. Any other stream (multipart parts, file reads through recycled buffers) may
 * share or keep its buffers: those are copied.
 */
export const ownsChunks = (body: Readable): boolean => body instanceof IncomingMessage || marksChunksMovable(body);

export interface SinkOptions {
  start: number;
  /** The file offset no write may pass (a part's region); a bug guard, never a client's error. */
  limit: number;
  maxBytes: number;
  tooLarge?: () => Error;
  /** The chunks are the sink's once written (ownsChunks). */
  own: boolean;
}

export class HashingFileSink extends Writable {
  private pos: number;
  private bytes = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly hash: StreamHash,
    private readonly opts: SinkOptions,
  ) {
    super({ highWaterMark: WRITE_BUFFER });
    this.pos = opts.start;
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    const n = bufs.reduce((s, b) => s + b.length, 0);
    if (this.bytes + n > this.opts.maxBytes) {
      return callback(this.opts.tooLarge?.() ?? new TooLarge('payload_too_large', `Body larger than ${this.opts.maxBytes} bytes`));
    }
    if (this.pos + n > this.opts.limit) return callback(new Error('a part ran past its region of the data file'));
    writeAllAt(this.fh, bufs, this.pos)
      .then(() => {
        this.pos += n;
        this.bytes += n;
        this.hash.update(bufs, this.opts.own); // after the write: a moved chunk reads as empty here
        return this.hash.room();
      })
      .then(() => callback(), callback);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (err) this.hash.drop();
    callback(err);
  }

  /**
   * Makes every byte written durable (fdatasync). Not started earlier on purpose: an
   * fdatasync every 64 MiB while the body streamed made a 1 GiB PUT slower (360 vs 434 MB/s,
   * A/B; the writes waited behind the syncs: 1.2 vs 0.5 s in pwritev).
   */
  sync(): Promise<void> {
    return this.fh.datasync();
  }

  /** Size and digests of everything written; once the stream has finished. */
  async result(): Promise<WrittenBlob> {
    const d = await this.hash.digest();
    return { size: this.bytes, sha256: d.sha256, md5: d.md5 };
  }

  /** The bytes will not be kept: forget the hash job. */
  discard(): void {
    this.hash.drop();
  }
}
