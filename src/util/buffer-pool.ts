/**
 * Buffers kept for reuse instead of allocated per read or write: a fresh big buffer is external
 * memory to V8, promoted when it lives a few ms and collected late; a reused one is old once and
 * stays. Used by downloads (serve/pooled-body.ts), ZIP entries (storage/read-buffers.ts) and the
 * S3 spool (storage/s3/part-spool.ts); each decides when a buffer is free again.
 *
 * A pool nobody has used for `idleMs` (10 s) lets its free buffers go (at most one more `idleMs`
 * later: a timer looks once per period, not a clock read per buffer): kept for good, the five
 * pools' ~30 MiB of idle buffers stayed in RSS under whatever ran next (a heap snapshot in the
 * middle of an S3 ZIP that followed a chunked upload found 9.4 MB of the spool's slabs held).
 */

/**
 * Free buffers are let go after this long without a take() or give(): long enough that streams
 * arriving one after another keep reusing them (with 2 s, the F-04 stalled-reader measurement on
 * S3 saw the pools refilled inside its window: 300 multi-range readers held 314–437 KiB each
 * in two runs out of four, against 106–220 KiB without letting go).
 */
const IDLE_MS = 10_000;

/** Free buffers kept for the next chunks, by size; beyond `maxRetainedBytes` they are left to GC. */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private retained = 0;
  /** Buffers this pool had to allocate (none free of that size). */
  allocated = 0;

  /** Taken from or given to since the idle timer last looked. */
  private used = false;
  private trimTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly maxRetainedBytes: number,
    private readonly idleMs = IDLE_MS,
  ) {}

  take(size: number): Buffer {
    this.used = true;
    const buf = this.free.get(size)?.pop();
    if (buf === undefined) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(size); // its own memory: never a slice of Node's shared slab
    }
    this.retained -= size;
    return buf;
  }

  give(buf: Buffer): void {
    this.used = true;
    if (this.retained + buf.length > this.maxRetainedBytes) return;
    const list = this.free.get(buf.length);
    if (list) list.push(buf);
    else this.free.set(buf.length, [buf]);
    this.retained += buf.length;
    this.trimWhenIdle();
  }

  /** Lets the free buffers go after a whole `idleMs` without use (so between one and two of them after the last). */
  private trimWhenIdle(): void {
    if (this.trimTimer) return;
    this.used = false;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = null;
      if (this.used) return this.trimWhenIdle();
      this.free.clear();
      this.retained = 0;
    }, this.idleMs);
    this.trimTimer.unref(); // never keeps the process alive
  }

  get retainedBytes(): number {
    return this.retained;
  }
}
