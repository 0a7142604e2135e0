/**
 * Buffers a byte stream reads into, handed back once their bytes have left the process, so a
 * long stream reuses a few instead of allocating one per read.
 *
 * Why it matters for ZIP downloads: each 1 MiB read into a fresh buffer is external memory to
 * V8; queued behind the socket for a few ms it survives the young generation's collections and
 * is promoted, and with the small young generation the launch settings use (for peak RSS) the
 * old generation then fills with such buffers faster than anything else: V8 was seen running a
 * mark-compact every 30–40 ms that freed almost nothing (2.3–3 CPU s per GiB archived, 0.4–0.7
 * GB/s, against 0.3–0.5 s and 1.4–1.8 GB/s otherwise), and the allocator re-faulting the memory
 * it had handed back. A recycled buffer is old once and stays: no new external memory per read.
 *
 * The pool is process-wide and small (8 buffers idle); a stream holds only the buffers
 * its bytes are in, and reads under 256 KiB (a slow reader's) are plain allocations, so a
 * stalled download pins no more than before.
 *
 * The rule that makes reuse safe: a buffer is free again only after a chunk of it went out
 * through `passing()` and, later, `written()` said that everything passed so far is in the
 * kernel. A buffer that never passes (a read-ahead dropped, a stream destroyed) is simply not
 * reused. Chunks travel whole from the read to `passing()` (nothing on the way splits them).
 */
import { BufferPool } from '../util/buffer-pool.js';

/** Reads smaller than this get a plain allocation (a slow reader's 16–64 KiB chunks). */
const MIN_POOLED = 256 * 1024;
const BUFFER_BYTES = 1024 * 1024;
/** Buffers kept for reuse between streams, process-wide (≤ 8 MiB idle). */
const pool = new BufferPool(8 * BUFFER_BYTES);

/** Process-wide counts: pool buffers made, and handed back for reuse (tests, diagnostics). */
export const readBufferStats = {
  get made(): number {
    return pool.allocated;
  },
  reused: 0,
};

/** One stream's use of the process-wide pool of 1 MiB read buffers. */
export class RecycledReadBuffers {
  /** Buffers a chunk of which went out and is not yet known written. */
  private readonly out = new Set<ArrayBufferLike>();
  /** The pool's buffers this stream read into (others are not the pool's to reuse). */
  private readonly mine = new WeakMap<ArrayBufferLike, Buffer>();

  /** A buffer of exactly `size` bytes to read into. */
  take(size: number): Buffer {
    if (size < MIN_POOLED || size > BUFFER_BYTES) return Buffer.allocUnsafe(size);
    const whole = pool.take(BUFFER_BYTES);
    this.mine.set(whole.buffer, whole);
    return whole.subarray(0, size);
  }

  /** A chunk on its way out (after every stage that could hold it back). */
  passing(chunk: Buffer): void {
    if (this.mine.has(chunk.buffer)) this.out.add(chunk.buffer);
  }

  /** Everything that passed so far has been written out: those buffers may be read into again. */
  written(): void {
    for (const ab of this.out) {
      const whole = this.mine.get(ab)!;
      this.mine.delete(ab);
      readBufferStats.reused++;
      pool.give(whole);
    }
    this.out.clear();
  }
}
