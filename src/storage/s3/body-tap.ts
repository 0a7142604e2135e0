/**
 * One GET's body taken as it arrives: each chunk the HTTP client hands over is copied at once,
 * into the buffer a read is waiting to fill; the rest of a chunk that completes a read waits in
 * a small staging buffer, and the body is paused until the next read (the socket's flow
 * control then holds S3 back).
 *
 * Why copy at once: the client allocates every chunk afresh (64 KiB). Left in a stream's queue
 * while the download waits on its client, the chunks outlive V8's young-generation collections
 * and are promoted; the old generation then fills with such garbage (a 10 × 100 MiB ZIP from S3
 * peaked 15–30 MB higher with the chunks queued in a stream). Copied, they die young.
 */
import type { Readable } from 'node:stream';
import { BufferPool } from '../../util/buffer-pool.js';

/**
 * One chunk: what is left of the chunk that completed a read. The body is paused whenever no
 * read waits, so while the response writes, S3's bytes wait in the kernel's socket buffers
 * (which keep S3 sending meanwhile), not in ours: a download whose client stops reading holds
 * this buffer and its HTTP client's queue (300 stalled S3 readers: 215–229 KiB each before
 * taps, 383–431 KiB with a 256 KiB staging buffer kept half full).
 */
const STAGE_BYTES = 64 * 1024;
/** Staging buffers kept for reuse, process-wide (one per S3 read in progress). */
const stagingBuffers = new BufferPool(16 * STAGE_BYTES);

interface Waiting {
  target: Buffer;
  offset: number;
  length: number;
  filled: number;
  resolve: (n: number) => void;
  reject: (err: Error) => void;
}

export class BodyTap {
  private stage: Buffer | null = null;
  private from = 0;
  private to = 0;
  /** Chunks that did not fit the staging buffer (only ever a few: the body is paused first). */
  private overflow: Buffer[] = [];
  private waiting: Waiting | null = null;
  private ended = false;
  private failure: Error | null = null;
  /** Bytes the body has delivered. */
  received = 0;

  constructor(private readonly body: Readable) {
    if (body.destroyed) this.failure = body.errored ?? new Error('the connection closed before the body ended');
    body.on('data', (chunk: Buffer) => this.onData(chunk));
    body.once('end', () => this.settle(null));
    body.once('error', (err: Error) => this.settle(err));
    body.once('close', () => this.settle(this.ended ? null : new Error('the connection closed before the body ended')));
  }

  /**
   * Copies `length` bytes into `target` at `offset`, fewer only where the body ends (0 once it
   * has ended). The read is answered once it is full, as a file read is: one answer per read,
   * not one per chunk the client hands over.
   */
  fill(target: Buffer, offset: number, length: number): Promise<number> {
    const filled = this.takeStaged(target, offset, length);
    if (filled === length || this.ended) return Promise.resolve(filled);
    if (this.failure) return filled > 0 ? Promise.resolve(filled) : Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { target, offset, length, filled, resolve, reject };
      this.body.resume();
    });
  }

  /** Stops reading the body and hands the staging buffer back. */
  close(): void {
    this.body.destroy();
    this.release();
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.length;
    let rest = chunk;
    const w = this.waiting;
    if (w) {
      const k = rest.copy(w.target, w.offset + w.filled, 0, Math.min(rest.length, w.length - w.filled));
      w.filled += k;
      rest = rest.subarray(k);
      if (w.filled === w.length) {
        this.waiting = null;
        w.resolve(w.filled);
      }
    }
    if (rest.length > 0) this.stash(rest);
    if (!this.waiting) this.body.pause();
  }

  private stash(bytes: Buffer): void {
    this.stage ??= stagingBuffers.take(STAGE_BYTES);
    if (this.overflow.length === 0 && this.to + bytes.length > STAGE_BYTES && this.from > 0) {
      this.stage.copyWithin(0, this.from, this.to);
      this.to -= this.from;
      this.from = 0;
    }
    if (this.overflow.length === 0 && this.to + bytes.length <= STAGE_BYTES) {
      this.to += bytes.copy(this.stage, this.to);
    } else {
      this.overflow.push(Buffer.from(bytes)); // copied: the client's chunk still dies young
    }
  }

  private takeStaged(target: Buffer, offset: number, length: number): number {
    let n = 0;
    if (this.stage && this.to > this.from) {
      const k = this.stage.copy(target, offset, this.from, Math.min(this.to, this.from + length));
      this.from += k;
      n += k;
      if (this.from === this.to) this.from = this.to = 0;
    }
    while (n < length && this.overflow.length > 0 && this.to === this.from) {
      const head = this.overflow[0]!;
      const k = head.copy(target, offset + n, 0, Math.min(head.length, length - n));
      n += k;
      if (k === head.length) this.overflow.shift();
      else this.overflow[0] = head.subarray(k);
    }
    if (this.ended && this.to === this.from && this.overflow.length === 0) this.release();
    return n;
  }

  private settle(err: Error | null): void {
    if (this.ended || this.failure) return;
    if (err) this.failure = err;
    else this.ended = true;
    const w = this.waiting;
    this.waiting = null;
    if (!w) return;
    // Bytes already copied are answered; a failure then comes with the next read.
    if (err && w.filled === 0) w.reject(err);
    else w.resolve(w.filled);
  }

  private release(): void {
    if (!this.stage) return;
    stagingBuffers.give(this.stage);
    this.stage = null;
    this.from = this.to = 0;
    this.overflow = [];
  }
}
