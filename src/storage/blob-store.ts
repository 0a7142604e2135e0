/**
 * The port for bytes. Routes and services never touch `fs`; they talk to a BlobStore.
 * Keys are '/'-separated relative paths such as `storage/u1/docs/abc_report.pdf`, always
 * built from validated parts. The local-disk store is the embedded default; an S3 store
 * maps the same calls onto multipart uploads (parts ↔ UploadPart, assemble ↔ Complete).
 */
import type { Readable } from 'node:stream';
import type { ReadPacer } from './read-pacer.js';

export interface WrittenBlob {
  size: number;
  /** Lower-case hex digests computed while the bytes streamed through. */
  sha256: string;
  md5: string;
}

export interface BlobStat {
  size: number;
  mtime: Date;
}

export interface StorageHealth {
  writable: boolean;
  totalBytes: number;
  freeBytes: number;
}

export interface WriteOptions {
  /** More bytes than this → `tooLarge()` (default: TooLarge('payload_too_large')), nothing kept. */
  maxBytes: number;
  tooLarge?: () => Error;
  /** Compute the MD5 as well (default true). MD5 costs more CPU than SHA-256: pass false when
   *  nobody will check it; `md5` is then ''. */
  md5?: boolean;
}

export interface ReadOptions {
  /**
   * Sizes the reads by how fast the consumer takes the bytes (storage/read-pacer.ts), for a
   * consumer the stream is not piped into directly (each file of a ZIP). Default: the stream
   * paces itself by the Writable it is piped into.
   */
  pacer?: ReadPacer;
}

export interface BlobStore {
  /**
   * Streams one part of an upload to a temporary place and promotes it only when the
   * body ended cleanly; a part cut short (client gone, limit hit, crash) is never visible.
   * `verify` runs before promotion and may throw (or reject) to refuse the part: a checksum
   * mismatch, or an upload that was completed or aborted while the part streamed in.
   */
  writePart(
    uploadId: string,
    partNumber: number,
    body: Readable,
    opts: WriteOptions & { verify?: (written: WrittenBlob) => void | Promise<void> },
  ): Promise<WrittenBlob>;
  /** Parts present for an upload (promoted ones only). */
  listParts(uploadId: string): Promise<{ partNumber: number; size: number }[]>;
  /** Removes every part of an upload (abort, expiry, after assembly). */
  deleteParts(uploadId: string): Promise<void>;
  /**
   * Joins the parts, in order, into `key` atomically: the object appears whole or not at all,
   * also across a crash (temp file, fsync, rename). The parts stay until deleteParts, so an
   * interrupted completion can be retried. Returns the whole object's digest (md5 empty).
   */
  assemble(uploadId: string, parts: { partNumber: number; sha256: string }[], key: string): Promise<WrittenBlob>;
  /** Streams a whole object to `key` atomically (the one-request upload). */
  writeObject(key: string, body: Readable, opts: WriteOptions): Promise<WrittenBlob>;
  /** A byte range (inclusive) or the whole object as a stream. */
  read(key: string, range?: { start: number; end: number }, opts?: ReadOptions): Promise<Readable>;
  /**
   * A small byte range (inclusive) in memory: callers use it only below SMALL_READ_BYTES, where
   * a stream's set-up costs more than the bytes (a 4 KiB file served ~2× faster this way).
   */
  readSmall(key: string, range: { start: number; end: number }): Promise<Buffer>;
  stat(key: string): Promise<BlobStat | null>;
  delete(key: string): Promise<void>;
  health(): Promise<StorageHealth>;
  /**
   * Start-up housekeeping: removes temporary files left by a crash, and the parts of uploads
   * that `known` (asked a page of upload ids at a time) does not name; returns how many.
   */
  removeOrphans(known: (uploadIds: string[]) => Promise<Set<string>>): Promise<number>;
  /**
   * Start-up housekeeping: removes whole objects that no record names (a crash between
   * writing the bytes and committing the record, or between deleting the record and the
   * bytes). Pages through what is stored; returns how many were removed.
   */
  removeOrphanObjects(scan: OrphanScan): Promise<number>;
  /**
   * For X-Accel-Redirect: where the key's bytes live, '/'-separated and relative to the
   * store's root (not always the key: a key too long for the file system lives elsewhere),
   * or null when the bytes are not plain local files a web server could send.
   */
  accelPathOf(key: string): string | null;
}

export interface OrphanScan {
  /**
   * Only objects last written before this (unix ms) may go: a younger one may belong to an
   * upload that is committing its record right now.
   */
  writtenBefore: number;
  /** Which of these keys a record names (asked a page at a time). */
  named(keys: string[]): Promise<Set<string>>;
  /**
   * Every recorded key of at least `minBytes` bytes, a page at a time: for a store that keeps
   * long keys under a digest, the only way back from an object to its key.
   */
  longKeys(minBytes: number): AsyncIterable<string[]>;
}

/** Ranges up to this many bytes are read whole (readSmall) instead of streamed. */
export const SMALL_READ_BYTES = 64 * 1024;
