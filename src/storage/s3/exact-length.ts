/**
 * The last step between a part's body and UploadPart. An UploadPart declares its length up
 * front, and S3 stores the part (replacing the earlier copy) as soon as that many bytes have
 * arrived. So this step holds the latest chunk back until the body has ended, and lets it go
 * only if the body was exactly the declared length: a body that ends short, runs long or
 * fails never delivers its last byte, the request is aborted, and the copy S3 held stays.
 * It also feeds the whole-file hash chain (part-chain.ts) as the bytes pass, and asks `gate`
 * (the part-write fence) before the last byte goes: a refusal fails the body the same way.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidInput, UploadNotOpen } from '../../errors/index.js';

export class ExactLength extends Transform {
  private bytes = 0;
  private held: Buffer | null = null;

  constructor(
    private readonly length: number,
    private readonly feed: ((chunk: Buffer) => void) | null,
    private readonly gate: (() => Promise<boolean>) | null = null,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.feed?.(chunk);
    const previous = this.held;
    this.held = chunk;
    // A body longer than declared is stopped by the Meter before this step; this is the backstop.
    if (this.bytes > this.length) return callback(new InvalidInput('part_size_mismatch', `Part must be ${this.length} bytes`));
    callback(null, previous ?? undefined);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.length) {
      return callback(new InvalidInput('part_size_mismatch', `Part must be ${this.length} bytes, got ${this.bytes}`));
    }
    if (!this.gate) return callback(null, this.held ?? undefined);
    this.gate().then(
      (go) => (go ? callback(null, this.held ?? undefined) : callback(new UploadNotOpen())),
      (err: unknown) => callback(err as Error),
    );
  }
}
