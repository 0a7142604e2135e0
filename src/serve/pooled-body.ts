/**
 * A download body written to the response from a small pool of recycled read buffers: the
 * fast path for a whole file or one range on a store that offers `openReader` (disk, S3).
 *
 * Why: a Readable handed to `reply.send()` must allocate every chunk afresh, because it is
 * never told when the socket is done with one. Fresh 1 MiB chunks cost page faults (35–61k
 * minor faults per GiB in some processes, README "Performance"). Here each chunk goes out with
 * `res.write(chunk, callback)`: the callback fires once the kernel has the bytes, and only then
 * does the buffer go back to the pool for the next read.
 *
 * Reads are sized by the same SinkPacer as FileSource (storage/read-pacer.ts): small (64 KiB)
 * until the client proves fast, up to 1 MiB while it keeps up, with chunks above the minimum
 * counted in the server-wide budget. At most two chunks are ours at a time: one being written
 * and, for a fast reader only, the next one read ahead. Nothing more is read while `write()`
 * says the socket is full; reading resumes on 'drain'. A reader that stops reading therefore
 * pins one chunk (the one the kernel would not take), a read-ahead one only while it was fast.
 *
 * The handle is closed whatever happens: the end, the client gone ('close' before the end), a
 * read error, or a file shorter than its record, which cuts the connection (the headers promised
 * Content-Length bytes: a short body must never look complete, nor be padded).
 */
import type { ServerResponse } from 'node:http';
import type { BlobReader } from '../storage/blob-store.js';
import { SinkPacer, type ReadPacer } from '../storage/read-pacer.js';
import { BufferPool } from '../util/buffer-pool.js';

/** One per process: two fast downloads' worth of 1 MiB chunks (more at once allocate, as before). */
export const downloadBuffers = new BufferPool(4 * 1024 * 1024);

export type PooledOutcome = { sent: 'complete' } | { sent: 'aborted' } | { sent: 'failed'; error: Error };

export interface PooledOptions {
  pool?: BufferPool;
  /** Default: a SinkPacer watching `res`. */
  pacer?: ReadPacer;
}

interface Chunk {
  buf: Buffer;
  length: number;
  granted: number;
}

/** The file ended before `length` bytes: it is shorter than its record (truncated meanwhile). */
class ShortFile extends Error {
  constructor(position: number) {
    super(`the file ends at byte ${position}, before the end its record promises`);
  }
}

/**
 * Writes bytes `start`..`end` (inclusive) of `reader` to `res`, whose head is already decided
 * (writeHead called), then ends it. Resolves once the handle is closed; never rejects.
 */
export async function sendPooled(res: ServerResponse, reader: BlobReader, range: { start: number; end: number }, opts: PooledOptions = {}): Promise<PooledOutcome> {
  const pool = opts.pool ?? downloadBuffers;
  let pacer = opts.pacer;
  if (!pacer) {
    const sink = new SinkPacer();
    sink.attach(res as never); // a ServerResponse emits 'drain' and 'close' like a Writable
    pacer = sink;
  }
  let pos = range.start;
  let gone = res.destroyed;
  let wake: (() => void) | null = null;
  const onClose = (): void => {
    gone = true;
    wake?.();
  };
  res.once('close', onClose);
  const settle = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };

  /** Fills one pooled buffer at `pos` (a short read only at the end of the file). */
  const readNext = async (): Promise<Chunk | null> => {
    if (pos > range.end) return null;
    const grant = pacer.nextChunk();
    const length = Math.min(grant.size, range.end - pos + 1);
    const at = pos;
    pos += length;
    const buf = pool.take(grant.size);
    try {
      let filled = 0;
      while (filled < length) {
        const n = await reader.read(buf, filled, length - filled, at + filled);
        if (n === 0) throw new ShortFile(at + filled);
        filled += n;
      }
      return { buf, length, granted: grant.granted };
    } catch (err) {
      pool.give(buf);
      pacer.release(grant.granted);
      throw err;
    }
  };
  const drop = (chunk: Chunk | null): void => {
    if (!chunk) return;
    pool.give(chunk.buf);
    pacer.release(chunk.granted);
  };

  let next: Promise<Chunk | null> | null = null;
  try {
    for (;;) {
      if (gone) break;
      const chunk: Chunk | null = await (next ?? readNext());
      next = null;
      if (chunk === null) break;
      if (gone) {
        drop(chunk);
        break;
      }
      pacer.pushed(chunk.length);
      const view = chunk.length === chunk.buf.length ? chunk.buf : chunk.buf.subarray(0, chunk.length);
      // The buffer is reused only once the socket is done with it (written, or the write failed).
      const ok = res.write(view, () => drop(chunk));
      // Read the next chunk while this one is written, for a reader that keeps up.
      if (ok || pacer.readAhead()) {
        next = readNext();
        next.catch(() => undefined); // awaited later; a failure must not count as unhandled meanwhile
      }
      if (!ok && !gone) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          res.once('drain', settle);
        });
        res.off('drain', settle);
      }
    }
    if (gone) return { sent: 'aborted' };
    res.end();
    return { sent: 'complete' };
  } catch (err) {
    // Headers are out: the only honest answer left is to cut the connection.
    res.destroy();
    return gone ? { sent: 'aborted' } : { sent: 'failed', error: err as Error };
  } finally {
    res.off('close', onClose);
    if (next) drop(await next.catch(() => null));
    await reader.close().catch(() => undefined);
  }
}
