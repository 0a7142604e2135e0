/**
 * How big the next read of a file should be, judged by how fast whoever receives the bytes
 * (in practice a socket) takes them.
 *
 * Why: a chunk handed to a socket stays in memory until the kernel has taken all of it, and a
 * chunk read ahead waits in memory too. Big chunks (1 MiB) are what make a download run near
 * nginx's speed, but a reader that stops reading would then pin ~2 MiB of ours for as long as
 * its connection lives. So reads start small and grow only while the reader proves fast:
 *  - the kernel's socket buffers (ours and, on loopback, the peer's) swallow a few MiB, with
 *    prompt drains, while the client reads nothing: no growth before `absorbBytes` went out;
 *  - after that, a `drain` soon after the last push doubles the size, and as much again
 *    without any back-pressure jumps to the maximum;
 *  - a slow `drain` (a trickle) drops it back to the minimum.
 * A reader that never reads therefore pins one small chunk. Chunks above the minimum also take
 * a share of a server-wide budget (LargeChunkBudget), so readers that read fast and then stop
 * can pin big chunks only up to that budget in total.
 */
import type { Writable } from 'node:stream';

export interface ChunkGrant {
  size: number;
  /** Bytes taken from the server-wide budget for this chunk: hand back with release(). */
  granted: number;
}

export interface ReadPacer {
  /** The size of the next read. */
  nextChunk(): ChunkGrant;
  /** The chunk's bytes have left our buffers (written out, dropped, or the read ended). */
  release(granted: number): void;
  /** A chunk of `bytes` just went downstream. */
  pushed(bytes: number): void;
  /** Read the next chunk before it is asked for (only for consumers that proved fast). */
  readAhead(): boolean;
}

export interface PacerLimits {
  /** Until a sink is attached we cannot tell a fast reader from a stalled one (a multi-range
   *  body read with `for await`, whose stages each hold a chunk): smallest reads. */
  unwatchedChunk: number;
  minChunk: number;
  maxChunk: number;
  /** A drain this soon after the last push is "fast". */
  fastDrainMs: number;
  /** A drain this late is a trickle: back to the minimum. */
  slowDrainMs: number;
  /** Bytes a socket may swallow without the client reading (kernel buffers); beyond, it reads. */
  absorbBytes: number;
}

export const DEFAULT_PACER_LIMITS: PacerLimits = {
  unwatchedChunk: 16 * 1024,
  minChunk: 64 * 1024,
  maxChunk: 1024 * 1024,
  fastDrainMs: 50,
  slowDrainMs: 1000,
  absorbBytes: 8 * 1024 * 1024,
};

/**
 * Bytes of chunks above the minimum size that may be in memory at once, server-wide. A chunk
 * holds its grant from its read until it has left our buffers; a stalled reader keeps its
 * grant, so stalled readers together never hold more than `totalBytes` in big chunks.
 */
export class LargeChunkBudget {
  private used = 0;
  constructor(readonly totalBytes: number) {}

  /** Grants `bytes` if they fit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.totalBytes) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}

/** One budget per process: it bounds this process's memory, whatever number of apps it runs. */
export const processChunkBudget = new LargeChunkBudget(32 * 1024 * 1024);

/** Paces reads by a Writable's `drain` events; attach it once the sink is known. */
export class SinkPacer implements ReadPacer {
  private size: number;
  private lastPushAt = 0;
  private sent = 0;
  private sinceBackPressure = 0;
  private sink: Writable | null = null;
  private readonly onDrain = (): void => this.drained();

  constructor(
    private readonly budget: LargeChunkBudget = processChunkBudget,
    private readonly limits: PacerLimits = DEFAULT_PACER_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.size = limits.minChunk;
  }

  attach(sink: Writable): void {
    if (this.sink) return;
    this.sink = sink;
    sink.on('drain', this.onDrain);
    sink.once('close', () => sink.off('drain', this.onDrain));
  }

  nextChunk(): ChunkGrant {
    const { minChunk } = this.limits;
    if (!this.sink) return { size: this.limits.unwatchedChunk, granted: 0 };
    // Over budget: read small rather than wait; the reader is no worse off than at the start.
    if (this.size <= minChunk || !this.budget.take(this.size)) return { size: minChunk, granted: 0 };
    return { size: this.size, granted: this.size };
  }

  release(granted: number): void {
    if (granted > 0) this.budget.give(granted);
  }

  pushed(bytes: number): void {
    this.lastPushAt = this.now();
    this.sent += bytes;
    this.sinceBackPressure += bytes;
    if (this.sinceBackPressure >= this.limits.absorbBytes) {
      // More than any socket buffer holds went out without back-pressure: the client reads.
      this.size = this.limits.maxChunk;
      this.sinceBackPressure = 0;
    }
  }

  readAhead(): boolean {
    return this.sink !== null && this.size > this.limits.minChunk;
  }

  private drained(): void {
    const waited = this.now() - this.lastPushAt;
    this.sinceBackPressure = 0;
    if (this.sent < this.limits.absorbBytes) return; // still filling kernel buffers: proves nothing
    if (waited <= this.limits.fastDrainMs) this.size = Math.min(this.size * 2, this.limits.maxChunk);
    else if (waited >= this.limits.slowDrainMs) this.size = this.limits.minChunk;
  }
}
