/**
 * Buffers kept for reuse instead of allocated per read or write: a fresh big buffer is external
 * memory to V8, promoted when it lives a few ms and collected late; a reused one is old once and
 * stays. Used by downloads (serve/pooled-body.ts), ZIP entries (storage/read-buffers.ts) and the
 * S3 spool (storage/s3/part-spool.ts); each decides when a buffer is free again.
 *
 * A pool nobody has used for `idleMs` lets its free buffers go: kept for good, the five pools'
 * ~30 MiB of idle buffers stayed in RSS under whatever ran next (after a chunked upload on S3, a
 * ZIP download ran with 9 MiB of the upload spool's slabs still held, and peaked that much higher).
 */

/** Free buffers are let go after this long without a take() or give(). */
const IDLE_MS = 2_000;

/** Free buffers kept for the next chunks, by size; beyond `maxRetainedBytes` they are left to GC. */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private retained = 0;
  /** Buffers this pool had to allocate (none free of that size). */
  allocated = 0;

  private lastUse = 0;
  private trimTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly maxRetainedBytes: number,
    private readonly idleMs = IDLE_MS,
  ) {}

  take(size: number): Buffer {
    this.lastUse = performance.now();
    const buf = this.free.get(size)?.pop();
    if (buf === undefined) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(size); // its own memory: never a slice of Node's shared slab
    }
    this.retained -= size;
    return buf;
  }

  give(buf: Buffer): void {
    this.lastUse = performance.now();
    if (this.retained + buf.length > this.maxRetainedBytes) return;
    const list = this.free.get(buf.length);
    if (list) list.push(buf);
    else this.free.set(buf.length, [buf]);
    this.retained += buf.length;
    this.trimWhenIdle(this.idleMs);
  }

  private trimWhenIdle(delayMs: number): void {
    if (this.trimTimer) return;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = null;
      const idle = performance.now() - this.lastUse;
      if (idle < this.idleMs) return this.trimWhenIdle(this.idleMs - idle);
      this.free.clear();
      this.retained = 0;
    }, delayMs);
    this.trimTimer.unref(); // never keeps the process alive
  }

  get retainedBytes(): number {
    return this.retained;
  }
}
