/**
 * Compressed (deflate) ZIP batches streamed with archiver: no temp file. Stored batches, whose
 * length is known up front, are written by zip-stored.ts (yazl); both share the entry names,
 * read-ahead and pacing defined here. Entries are appended lazily (the next one
 * only after archiver has consumed the previous one), each read through the BlobStore in
 * chunks that grow to 1 MiB while the client keeps up, which is what lets store mode run at
 * disk speed; the next entries' streams are opened, not read, while one drains
 * (zip-read-ahead.ts: on S3 each would otherwise wait a GetObject's first byte).
 * archiver switches to ZIP64 on its own past 4 GiB / 65535 entries.
 * A file deleted since the batch was made is left out; the archive stays valid (no length is
 * announced for a compressed batch, so none has to be kept).
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { ZipArchive, type ZipArchiveOptions } from 'archiver';
import type { FileRecord } from '../db/types.js';
import { DEFAULT_PACER_LIMITS, SinkPacer } from '../storage/read-pacer.js';
import { useNativeCrc32 } from './fast-crc32.js';
import { UnsafeEntryName } from '../errors/index.js';
import { EntryReadAhead, type EntrySources } from './zip-read-ahead.js';

// archiver's pure-JS CRC-32 is the slowest step of a stored ZIP; use zlib's when it agrees.
useNativeCrc32();

export type Compression = 'store' | 'deflate';

export type ZipSources = EntrySources;

export interface ZipOptions {
  compression: Compression;
  /** Write ZIP64 records even when not needed (tests). */
  forceZip64?: boolean;
  /** Entries opened ahead of the one being written (default DEFAULT_READ_AHEAD; 0: none). */
  readAhead?: number;
}

export interface ZipResult {
  entries: number;
  skipped: number;
  /** A source or the archive broke (not set when the consumer went away). */
  failed: boolean;
  /** Archive bytes produced (archiver's pointer). */
  bytes: number;
  /** What broke the archive, when `failed`: for the log, the client only sees a cut stream. */
  error?: unknown;
}

export interface ZipJob {
  /** The archive bytes: hand to `reply.send`. */
  stream: Readable;
  /** The archive's exact size in bytes, when known before the first byte (stored batches). */
  length?: number;
  /** Stops reading: destroys every opened source and the archive. Safe to call twice. */
  abort(): void;
  /** Settles when the archive is complete (or was aborted / failed). */
  done: Promise<ZipResult>;
}

/** `folder/filename`, or `filename` at the root. */
export function entryPath(file: Pick<FileRecord, 'folder' | 'filename'>): string {
  return file.folder ? `${file.folder}/${file.filename}` : file.filename;
}

/** Throws UnsafeEntryName unless `name` is a relative path of non-empty segments without "." / "..". */
export function assertSafeEntryName(name: string): void {
  const bad =
    name.length === 0 || name.startsWith('/') || name.includes('\\') || name.includes('\0') ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new UnsafeEntryName(name, 'unsafe');
}

/**
 * What archiver, zip-stream and compress-commons each do to an entry name on the way in
 * (runs of "/" and "\\" become one "/", then a leading "word:" drive letter and leading "../"
 * or "/" are stripped). Three passes: `ab:cd:ef` loses one "word:" per pass and ends up as `ef`.
 */
export function archiverNormalised(name: string): string {
  let out = name;
  for (let pass = 0; pass < 3; pass++) {
    out = out.replace(/[/\\]+/g, '/').replace(/^\w+:/, '').replace(/^(\.\.\/|\/)+/, '');
  }
  return out;
}

/**
 * Makes entry names unique (`report.pdf`, `report (2).pdf`, …), case-insensitively so the
 * archive also extracts on Windows and macOS without one file overwriting another.
 * Uniqueness is checked on the name archiver will actually write: every ":" becomes "_" (a
 * drive-letter lookalike would otherwise be cut down, and Windows refuses ":" in names anyway),
 * and a name archiver would still change is refused rather than written under another name.
 */
export class EntryNamer {
  private readonly taken = new Set<string>();

  unique(path: string): string {
    const name = path.replaceAll(':', '_');
    assertSafeEntryName(name);
    let candidate = name;
    for (let n = 2; this.taken.has(candidate.toLowerCase()); n++) candidate = numbered(name, n);
    if (archiverNormalised(candidate) !== candidate) throw new UnsafeEntryName(candidate, 'rewritten');
    this.taken.add(candidate.toLowerCase());
    return candidate;
  }
}

function numbered(path: string, n: number): string {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash + 1);
  const leaf = path.slice(slash + 1);
  const dot = leaf.lastIndexOf('.');
  // ".bashrc" has no extension; "a.tar.gz" becomes "a.tar (2).gz" (as browsers do).
  return dot > 0 ? `${dir}${leaf.slice(0, dot)} (${n})${leaf.slice(dot)}` : `${dir}${leaf} (${n})`;
}

/**
 * archiver's stages (CRC, ZIP writer, archiver itself) each hold a chunk or two; with its 1 MiB
 * default buffers a ZIP reader that stalled pinned ~6 MB. Small stage buffers, and source reads
 * paced by the response (small until the client proves fast), keep a stalled reader's share small.
 */
export const STAGE_BUFFER = 16 * 1024;
export const ZIP_PACING = { ...DEFAULT_PACER_LIMITS, minChunk: 16 * 1024 };

/** The archive stream; the Writable it is piped into (the response) paces the source reads. */
class PacedZipArchive extends ZipArchive {
  readonly pacer = new SinkPacer(undefined, ZIP_PACING);

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.pacer.attach(destination as unknown as Writable);
    return super.pipe(destination, options);
  }
}

/** Starts building the archive of `keys`; bytes flow as fast as the consumer reads them. */
export function zipStream(keys: readonly string[], sources: ZipSources, opts: ZipOptions): ZipJob {
  const base: ZipArchiveOptions = { forceZip64: opts.forceZip64 ?? false, highWaterMark: STAGE_BUFFER };
  const archive = new PacedZipArchive(opts.compression === 'deflate' ? { ...base, zlib: { level: 6 } } : { ...base, store: true });
  const controller = new AbortController();
  const namer = new EntryNamer();
  const ahead = new EntryReadAhead(keys, sources, { pacer: archive.pacer }, opts.readAhead);
  let entries = 0;
  let skipped = 0;

  const abort = (): void => {
    if (controller.signal.aborted) return;
    controller.abort();
    ahead.close();
    if (!archive.destroyed) archive.destroy();
  };
  // Fastify destroys the payload when the client goes away; that ends the job too.
  archive.once('close', abort);

  const result = (failed: boolean, error?: unknown): ZipResult => ({ entries, skipped, failed, bytes: archive.pointer(), error });
  const run = async (): Promise<ZipResult> => {
    for (;;) {
      const next = await ahead.take();
      if (!next || controller.signal.aborted) break; // close() destroyed whatever was opened
      const { file, source } = next;
      if (!file || !source) {
        skipped++;
        continue;
      }
      // archiver pipes the source into its own stream, which does not forward errors.
      source.once('error', (err) => {
        if (!archive.destroyed) archive.destroy(err);
      });
      // Named before the wait below starts: a name that throws must not leave that wait
      // pending, to be rejected unhandled by the abort that follows (a process crash).
      const name = namer.unique(entryPath(file));
      const appended = once(archive, 'entry', { signal: controller.signal });
      archive.append(source, { name, date: new Date(file.createdAt), mode: 0o644 });
      await appended;
      entries++;
    }
    if (!controller.signal.aborted) {
      const finished = archive.finalize();
      finished.catch(() => undefined); // failures surface through 'error' / 'close'
      await Promise.race([finished, once(archive, 'close', { signal: controller.signal })]);
    }
    return result(false);
  };

  const done = run().catch((err: unknown) => {
    // Headers are out by now: breaking the stream is how the client learns of the failure.
    if (controller.signal.aborted) return result(false);
    ahead.close();
    if (!archive.destroyed) archive.destroy(err instanceof Error ? err : new Error(String(err)));
    controller.abort();
    return result(true, err);
  });
  return { stream: archive, abort, done };
}
