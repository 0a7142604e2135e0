/**
 * One small range of a file, read with Node's callback API: open, read until the range is
 * full or the file ends, close. `fs/promises` does the same three calls through a FileHandle
 * (an object with its own close tracking and promise plumbing per call): for 4 KiB GETs that
 * machinery was ~46 µs of the ~185 µs a request costs the main thread, and the callback form
 * served 0.71× a minimal Fastify server against 0.58× in interleaved runs.
 */
import { close, open, read } from 'node:fs';

/** `length` bytes of `file` from `start`; shorter when the file ends first. */
export function readRange(file: string, start: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    open(file, 'r', (openErr, fd) => {
      if (openErr) return reject(openErr);
      const buf = Buffer.allocUnsafe(length);
      let filled = 0;
      const finish = (failure: Error | null): void =>
        close(fd, (closeErr) => {
          const err = failure ?? closeErr;
          if (err) reject(err);
          else resolve(filled === length ? buf : buf.subarray(0, filled));
        });
      const next = (): void => {
        if (filled === length) return finish(null);
        read(fd, buf, filled, length - filled, start + filled, (readErr, bytesRead) => {
          if (readErr) return finish(readErr);
          if (bytesRead === 0) return finish(null); // the file is shorter than the range
          filled += bytesRead;
          next();
        });
      };
      next();
    });
  });
}
