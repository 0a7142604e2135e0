/**
 * ZIP batches streamed with archiver: no temp file, one source file open at a time.
 * Entries are appended lazily (the next one only after archiver has consumed the previous
 * one), each read through the BlobStore with its 1 MiB buffer, which is what lets store
 * mode run at disk speed. archiver switches to ZIP64 on its own past 4 GiB / 65535 entries.
 * A file deleted since the batch was made is left out; the archive stays valid.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { ZipArchive } from 'archiver';
import type { FileRecord } from '../db/types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { useNativeCrc32 } from './fast-crc32.js';

// archiver's pure-JS CRC-32 is the slowest step of a stored ZIP; use zlib's when it agrees.
useNativeCrc32();

export type Compression = 'store' | 'deflate';

export interface ZipSources {
  /** The current record for a key (or a file id), or null when it was deleted. */
  lookup(key: string): Promise<FileRecord | null>;
  blobs: BlobStore;
}

export interface ZipOptions {
  compression: Compression;
  /** Write ZIP64 records even when not needed (tests). */
  forceZip64?: boolean;
}

export interface ZipResult {
  entries: number;
  skipped: number;
  /** A source or the archive broke (not set when the consumer went away). */
  failed: boolean;
  /** Archive bytes produced (archiver's pointer). */
  bytes: number;
}

export interface ZipJob {
  /** The archive bytes: hand to `reply.send`. */
  stream: Readable;
  /** Stops reading: destroys the current source and the archive. Safe to call twice. */
  abort(): void;
  /** Settles when the archive is complete (or was aborted / failed). */
  done: Promise<ZipResult>;
}

/** `folder/filename`, or `filename` at the root. */
export function entryPath(file: Pick<FileRecord, 'folder' | 'filename'>): string {
  return file.folder ? `${file.folder}/${file.filename}` : file.filename;
}

/** Throws unless `name` is a relative path of non-empty segments without "." / "..". */
export function assertSafeEntryName(name: string): void {
  const bad =
    name.length === 0 || name.startsWith('/') || name.includes('\\') || name.includes('\0') ||
    name.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new Error(`unsafe ZIP entry name: ${JSON.stringify(name)}`);
}

/**
 * Makes entry names unique (`report.pdf`, `report (2).pdf`, …), case-insensitively so the
 * archive also extracts on Windows and macOS without one file overwriting another.
 */
export class EntryNamer {
  private readonly taken = new Set<string>();

  unique(path: string): string {
    // archiver drops a leading "word:" (a Windows drive letter); keep the name intact instead.
    const name = path.replace(/^(\w+):/, '$1_');
    assertSafeEntryName(name);
    let candidate = name;
    for (let n = 2; this.taken.has(candidate.toLowerCase()); n++) candidate = numbered(name, n);
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

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** Starts building the archive of `keys`; bytes flow as fast as the consumer reads them. */
export function zipStream(keys: readonly string[], sources: ZipSources, opts: ZipOptions): ZipJob {
  const archive = new ZipArchive(
    opts.compression === 'deflate'
      ? { zlib: { level: 6 }, forceZip64: opts.forceZip64 ?? false }
      : { store: true, forceZip64: opts.forceZip64 ?? false },
  );
  const controller = new AbortController();
  const namer = new EntryNamer();
  let current: Readable | null = null;
  let entries = 0;
  let skipped = 0;

  const abort = (): void => {
    if (controller.signal.aborted) return;
    controller.abort();
    current?.destroy();
    current = null;
    if (!archive.destroyed) archive.destroy();
  };
  // Fastify destroys the payload when the client goes away; that ends the job too.
  archive.once('close', abort);

  const result = (failed: boolean): ZipResult => ({ entries, skipped, failed, bytes: archive.pointer() });
  const run = async (): Promise<ZipResult> => {
    for (const key of keys) {
      if (controller.signal.aborted) break;
      const file = await sources.lookup(key);
      let source: Readable | null = null;
      if (file) {
        try {
          source = await sources.blobs.read(file.key); // `key` may be an id: the record names the bytes
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
      if (!file || !source) {
        skipped++;
        continue;
      }
      if (controller.signal.aborted) {
        source.destroy();
        break;
      }
      current = source;
      // archiver pipes the source into its own stream, which does not forward errors.
      source.once('error', (err) => {
        if (!archive.destroyed) archive.destroy(err);
      });
      const appended = once(archive, 'entry', { signal: controller.signal });
      archive.append(source, { name: namer.unique(entryPath(file)), date: new Date(file.createdAt), mode: 0o644 });
      await appended;
      current = null;
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
    current?.destroy();
    if (!archive.destroyed) archive.destroy(err instanceof Error ? err : new Error(String(err)));
    controller.abort();
    return result(true);
  });
  return { stream: archive, abort, done };
}
