/**
 * Stored (uncompressed) ZIP batches with an exact length known before the first byte, so the
 * response carries `Content-Length` (browsers show progress; a transfer cut short is seen as
 * such). yazl writes the archive and computes its length from the entries' names and sizes,
 * ZIP64 included (it switches to ZIP64 per entry past 4 GiB, and for the end records past
 * 65535 entries); nothing here does ZIP arithmetic of its own.
 *
 * The entries are fixed when the download starts: the records read then give the names and
 * sizes the length is computed from (a file deleted between the batch's creation and the
 * download's start is left out, as before). Once the length is announced the body must match
 * it, so an entry that cannot deliver exactly its recorded size, a file deleted or changed
 * mid-download or bytes in storage longer or shorter than their record, cuts the transfer
 * (the stream is destroyed: the client sees a body shorter than announced) and the job fails
 * with an EntryMismatch, which the route logs. Never a silently longer or shorter body.
 *
 * Reads as the archiver writer does (zip.ts): the next entries' streams opened ahead
 * (zip-read-ahead.ts), reads paced by the response, small stage buffers; on disk, into read
 * buffers reused once the response has written them (storage/read-buffers.ts).
 */
import { ServerResponse } from 'node:http';
import { Transform, pipeline, type TransformCallback, type Readable, type Writable } from 'node:stream';
import { ZipFile, type ReadStreamOptions } from 'yazl';
import type { FileRecord } from '../db/types.js';
import { RecycledReadBuffers } from '../storage/read-buffers.js';
import { SinkPacer } from '../storage/read-pacer.js';
import { useNativeCrc32ForYazl } from './fast-crc32.js';
import { EntryReadAhead, type EntrySources } from './zip-read-ahead.js';
import { EntryNamer, entryPath, STAGE_BUFFER, ZIP_PACING, type ZipJob, type ZipResult } from './zip.js';

// buffer-crc32's byte loop would cap the stream well below disk speed; zlib's when it agrees.
useNativeCrc32ForYazl();

export interface StoredZipOptions {
  /** Write ZIP64 records even when not needed (tests). */
  forceZip64?: boolean;
  /** Entries opened ahead of the one being written (default DEFAULT_READ_AHEAD; 0: none). */
  readAhead?: number;
}

/** Why a stored batch was cut short after its length was announced (for the log only). */
export class EntryMismatch extends Error {
  constructor(
    readonly entry: string,
    readonly reason: 'deleted' | 'size_changed' | 'longer' | 'shorter',
    detail: string,
  ) {
    super(`ZIP entry "${entry}": ${detail}`);
    this.name = 'EntryMismatch';
  }
}

/** Passes exactly `size` bytes on, or fails: a byte too many fails at once, one too few at the end. */
class ExactLength extends Transform {
  private seen = 0;
  constructor(
    private readonly size: number,
    private readonly entry: string,
  ) {
    super({ highWaterMark: STAGE_BUFFER });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.size) cb(new EntryMismatch(this.entry, 'longer', `more than the ${this.size} bytes recorded`));
    else cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen < this.size) cb(new EntryMismatch(this.entry, 'shorter', `${this.seen} of the ${this.size} bytes recorded`));
    else cb();
  }
}

/** The archive bytes as handed to the response, counted; the response paces the source reads. */
class PacedOutput extends Transform {
  readonly pacer = new SinkPacer(undefined, ZIP_PACING);
  /**
   * The entries' read buffers, reused once written out — only when this stream is piped
   * straight into the HTTP response, whose writableLength counts its socket's queue too: then
   * nothing queued here or there means every chunk that passed is in the kernel.
   */
  readonly buffers = new RecycledReadBuffers();
  private response: ServerResponse | null = null;
  bytes = 0;

  constructor() {
    super({ highWaterMark: STAGE_BUFFER });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.response) {
      this.settle();
      this.buffers.passing(chunk);
    }
    cb(null, chunk);
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.pacer.attach(destination as unknown as Writable);
    if (destination instanceof ServerResponse && !this.response) {
      this.response = destination;
      destination.on('drain', () => this.settle());
    }
    return super.pipe(destination, options);
  }

  private settle(): void {
    if (this.readableLength === 0 && this.response!.writableLength === 0) this.buffers.written();
  }
}

function entryOptions(file: FileRecord, forceZip64: boolean): ReadStreamOptions {
  return { size: file.size, compress: false, mtime: new Date(file.createdAt), mode: 0o100644, forceZip64Format: forceZip64 };
}

/** yazl's length for these entries, with or without the ZIP64 end records forced. */
function yazlLength(files: readonly FileRecord[], names: readonly string[], zip64End: boolean): number {
  const probe = new ZipFile(); // never read: its first entry's stream is asked for and never given
  files.forEach((file, i) => probe.addReadStreamLazy(names[i]!, entryOptions(file, false), () => undefined));
  let length = -1;
  probe.end({ forceZip64Format: zip64End }, (bytes) => (length = bytes));
  return length;
}

/**
 * Whether yazl's length counts the ZIP64 end records. yazl 3.3.1 counts them once the central
 * directory reaches 64 KiB (it compares that size with 0xffff, where its writer compares with
 * 0xffffffff: ~700 entries), so without this an archive came out 76 bytes shorter than announced.
 * Its counting rule covers every case its writer uses them in, so writing them whenever they are
 * counted (forcing them) makes the bytes match; asked of yazl, not computed here: the length is
 * the same with them forced only when they were already counted.
 */
function predictsZip64End(files: readonly FileRecord[], names: readonly string[]): boolean {
  return yazlLength(files, names, false) === yazlLength(files, names, true);
}

/**
 * Starts the stored archive of `files` (records read when the download starts); `job.length`
 * is its exact size in bytes. Throws UnsafeEntryName, before any byte, for a name that cannot
 * be written as is.
 */
export function storedZipStream(files: readonly FileRecord[], sources: EntrySources, opts: StoredZipOptions = {}): ZipJob & { length: number } {
  const namer = new EntryNamer();
  const names = files.map((f) => namer.unique(entryPath(f)));
  const zip = new ZipFile();
  const output = new PacedOutput();
  const ahead = new EntryReadAhead(files.map((f) => f.id), sources, { pacer: output.pacer, buffers: output.buffers }, opts.readAhead);
  let entries = 0;
  let ended = false;
  let aborted = false;
  let failure: unknown;
  let settle: (r: ZipResult) => void = () => undefined;
  const done = new Promise<ZipResult>((resolve) => (settle = resolve));
  const finish = (): void => {
    if (ended) return;
    ended = true;
    ahead.close();
    settle({ entries, skipped: 0, failed: failure !== undefined, bytes: output.bytes, error: failure });
  };
  // A failure after the headers went out can only break the stream: the client sees a short body.
  const fail = (err: unknown): void => {
    if (ended || aborted || failure !== undefined) return; // the first cause is the one logged
    failure = err;
    ahead.close();
    if (!output.destroyed) output.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const abort = (): void => {
    if (ended || aborted || failure !== undefined) return;
    aborted = true;
    ahead.close();
    if (!output.destroyed) output.destroy();
  };

  files.forEach((file, i) => {
    const name = names[i]!;
    zip.addReadStreamLazy(name, entryOptions(file, opts.forceZip64 ?? false), (cb) => {
      ahead.take().then(
        (next) => {
          if (!next || ended || aborted || failure !== undefined) return next?.source?.destroy(); // stopped meanwhile
          const { file: now, source } = next;
          if (!now || !source) return fail(new EntryMismatch(name, 'deleted', 'deleted after the download started'));
          if (now.size !== file.size) {
            source.destroy();
            return fail(new EntryMismatch(name, 'size_changed', `now ${now.size} bytes, ${file.size} announced`));
          }
          cb(null, pipeline(source, new ExactLength(file.size, name), (err) => err && fail(err)));
          entries++;
        },
        fail,
      );
    });
  });
  const endWithZip64 = (opts.forceZip64 ?? false) || predictsZip64End(files, names);
  let length = -1;
  zip.end({ forceZip64Format: endWithZip64 }, (bytes) => (length = bytes));
  zip.on('error', fail);
  // Every entry has a size and none is compressed, so yazl knows the length by now.
  if (length < 0) {
    const err = new Error('yazl could not compute the archive length');
    fail(err);
    throw err;
  }
  // Fastify destroys the payload when the client goes away; that ends the job too. Listened
  // to before pipeline() does, so a departure counts as an abort, not as a failure.
  output.once('close', () => {
    if (!output.writableFinished && failure === undefined) abort();
    finish();
  });
  pipeline(zip.outputStream, output, (err) => {
    if (err && !aborted) fail(err);
    finish();
  });
  return { stream: output as Readable, abort, done, length };
}
