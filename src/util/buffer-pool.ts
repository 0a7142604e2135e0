/**
 * Buffers kept for reuse instead of allocated per read or write: a fresh big buffer is external
 * memory to V8, promoted when it lives a few ms and collected late; a reused one is old once and
 * stays. Used by downloads (serve/pooled-body.ts), ZIP entries (storage/read-buffers.ts) and the
 * S3 spool (storage/s3/part-spool.ts); each decides when a buffer is free again.
 */

/** Free buffers kept for the next chunks, by size; beyond `maxRetainedBytes` they are left to GC. */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private retained = 0;
  /** Buffers this pool had to allocate (none free of that size). */
  allocated = 0;

  constructor(readonly maxRetainedBytes: number) {}

  take(size: number): Buffer {
    const buf = this.free.get(size)?.pop();
    if (buf === undefined) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(size); // its own memory: never a slice of Node's shared slab
    }
    this.retained -= size;
    return buf;
  }

  give(buf: Buffer): void {
    if (this.retained + buf.length > this.maxRetainedBytes) return;
    const list = this.free.get(buf.length);
    if (list) list.push(buf);
    else this.free.set(buf.length, [buf]);
    this.retained += buf.length;
  }

  get retainedBytes(): number {
    return this.retained;
  }
}
