/**
 * A pass-through that counts, hashes (SHA-256 and MD5) and enforces a byte limit as the
 * bytes stream by, so nothing is ever read twice or held whole in memory.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TooLarge } from '../errors/index.js';
import type { WrittenBlob } from './blob-store.js';

export class Meter extends Transform {
  private bytes = 0;
  private readonly sha256: Hash = createHash('sha256');
  private readonly md5: Hash | null;

  constructor(
    private readonly maxBytes: number,
    opts: { md5?: boolean; tooLarge?: () => Error } = {},
  ) {
    // Pass chunks straight on: the file write stream behind it holds the 4 MiB write buffer,
    // and a second big buffer here only adds memory per upload (no speed).
    super({ highWaterMark: 64 * 1024 });
    this.md5 = opts.md5 === false ? null : createHash('md5');
    this.tooLarge = opts.tooLarge ?? (() => new TooLarge('payload_too_large', `Body larger than ${maxBytes} bytes`));
  }

  private readonly tooLarge: () => Error;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(this.tooLarge());
      return;
    }
    this.sha256.update(chunk);
    this.md5?.update(chunk);
    callback(null, chunk);
  }

  result(): WrittenBlob {
    return { size: this.bytes, sha256: this.sha256.digest('hex'), md5: this.md5 ? this.md5.digest('hex') : '' };
  }
}
