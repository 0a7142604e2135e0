/**
 * The port for bytes. Routes and services never touch `fs`; they talk to a BlobStore.
 * Keys are '/'-separated relative paths such as `storage/u1/docs/abc_report.pdf`, always
 * built from validated parts. The local-disk store is the embedded default; an S3 store
 * maps the same calls onto multipart uploads (parts ↔ UploadPart, assemble ↔ Complete).
 */
import type { Readable } from 'node:stream';
import type { ReadPacer } from './read-pacer.js';
import type { RecycledReadBuffers } from './read-buffers.js';

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
  /** Disk figures, for a store that has them (an object store has no such thing). */
  capacity?: { totalBytes: number; freeBytes: number };
}

export interface WriteOptions {
  /** More bytes than this → `tooLarge()` (default: TooLarge('payload_too_large')), nothing kept. */
  maxBytes: number;
  tooLarge?: () => Error;
  /** Compute the MD5 as well (default true). MD5 costs more CPU than SHA-256: pass false when
   *  nobody will check it; `md5` is then ''. */
  md5?: boolean;
  /** writePart on a store with `fencedPartWrites`: the service's hold on this write (below). */
  fence?: PartWriteFence;
}

/**
 * The service's registration of one part write (UploadStore.beginPartWrite), for a store that
 * must never take a part once the upload's parts are joined (`fencedPartWrites`). The store
 * holds the part's last byte back until `beforeLastByte()` allows it, and aborts its request
 * when `signal` fires before that; past the last byte it waits for the server's answer.
 */
export interface PartWriteFence {
  /** Fires when the write must stop: the upload left 'open', or the lease could not be renewed in time. */
  readonly signal: AbortSignal;
  /** Asked once the whole body has arrived, before the last byte goes: false → UploadNotOpen, the earlier copy stays. */
  beforeLastByte(): Promise<boolean>;
  /**
   * The last byte went out and no answer came (the request timed out or the connection
   * broke): the write may still land, so its lease is left to lapse instead of being ended.
   */
  inDoubt(): void;
}

export interface ReadOptions {
  /**
   * Sizes the reads by how fast the consumer takes the bytes (storage/read-pacer.ts), for a
   * consumer the stream is not piped into directly (each file of a ZIP). Default: the stream
   * paces itself by the Writable it is piped into.
   */
  pacer?: ReadPacer;
  /**
   * Buffers to read into and reuse (storage/read-buffers.ts): for a consumer that knows when
   * the bytes have left the process (a ZIP download). Both stores read through FileSource, which
   * takes its buffers from here.
   */
  buffers?: RecycledReadBuffers;
}

/**
 * What a store can do, declared once: UploadService.init holds uploads to it (a part-size
 * request outside it is refused before any byte arrives), and the download path asks for a
 * local path only where one exists.
 */
export interface BlobCapabilities {
  /** Every part but the last must be at least this many bytes (S3: 5 MiB). */
  minPartSize: number;
  maxPartSize: number;
  maxParts: number;
  /** assemble() returns the whole object's SHA-256 without reading it again. */
  wholeObjectSha256: boolean;
  /** accelPathOf() can return a path: the bytes are plain files a web server can send. */
  localPath: boolean;
  /**
   * Copies of one part are kept apart until one is discarded (disk). False where a store
   * keeps one copy per part number and a later copy replaces the earlier one (S3's
   * UploadPart): a refused copy has then already replaced the recorded one, so the service
   * forgets the part (UploadStore.dropPart) and the client sends it again.
   */
  distinctPartCopies: boolean;
  /**
   * assemble() must not run while a part write is in flight, nor may one start after it: the
   * store would write into the joined object (S3: Swift's s3api takes an UploadPart after
   * CompleteMultipartUpload and rewrites the completed object's segment). The service then
   * registers each write in the database (UploadStore.beginPartWrite) and passes its
   * WriteOptions.fence; a completion waits until no registered write is alive.
   */
  fencedPartWrites: boolean;
}

/**
 * A store's handle on one upload, kept in the upload's record: `ref` is whatever the store
 * needs to find its parts again (S3: the multipart upload id; '' on disk, where the upload
 * id names the folder).
 */
export interface UploadHandle {
  uploadId: string;
  ref: string;
}

/** One received copy of a part. `ref` names this copy (S3: its ETag; disk: its attempt). */
export interface WrittenPart extends WrittenBlob {
  ref: string;
}

/** A part as the metadata row recorded it: the row, not the store, says which copy counts. */
export interface PartRef {
  partNumber: number;
  ref: string;
  size: number;
  sha256: string;
}

export interface AssembledBlob {
  size: number;
  /** Null when the store cannot give it without reading the object again (capabilities). */
  sha256: string | null;
}

/** An upload area the store holds, for the clean-up of those no record names. */
export interface UploadArea {
  handle: UploadHandle;
  /** Unix ms: when the area was last written to (S3: when the multipart upload began). */
  touchedAt: number;
}

export interface BlobStore {
  readonly capabilities: BlobCapabilities;
  /** Opens an upload area before its record is written; nothing is stored yet on disk. */
  beginUpload(uploadId: string, info: { size: number; partSize: number; mime: string }): Promise<UploadHandle>;
  /**
   * Streams one copy of a part and returns its reference once the body ended cleanly; a copy
   * cut short (client gone, limit hit, crash) is never returned. With distinctPartCopies,
   * copies of one part never overwrite each other: the caller checks the copy, records the
   * one that counts and discards the others (discardPart).
   */
  writePart(upload: UploadHandle, partNumber: number, body: Readable, opts: WriteOptions): Promise<WrittenPart>;
  /** Drops one copy of a part (refused, or replaced by a later one). Idempotent. */
  discardPart(upload: UploadHandle, part: { partNumber: number; ref: string }): Promise<void>;
  /**
   * Joins the given copies, in order, into `key` atomically: the object appears whole or not
   * at all, also across a crash. The parts stay until abortUpload, so an interrupted
   * completion can be retried. With `expect.sha256`, a store that knows the whole digest
   * before joining (S3's hash chain) refuses a mismatch (checksum_mismatch) and joins nothing.
   */
  assemble(upload: UploadHandle, parts: PartRef[], key: string, expect?: { sha256?: string }): Promise<AssembledBlob>;
  /**
   * Optional: for a store whose assemble() cannot be undone (S3: CompleteMultipartUpload), the
   * upload made open to parts again after a completion that joined them failed (the digest
   * read back differs): a fresh upload area holding the same bytes per part, whose new handle
   * ref and part refs the caller records (UploadStore.rebaseAssembly). Null: nothing to redo.
   */
  reopenJoined?(upload: UploadHandle, parts: PartRef[]): Promise<{ ref: string; parts: { partNumber: number; ref: string }[] } | null>;
  /** Removes everything the upload left (abort, expiry, after a committed completion). Idempotent. */
  abortUpload(upload: UploadHandle): Promise<void>;
  /** Upload areas last touched before `before` (unix ms), a page at a time. */
  uploadAreas(before: number): AsyncIterable<UploadArea[]>;
  /**
   * Removes the store's own half-written leftovers (disk: temporary files): at once those of
   * a writer known to be gone, the others once untouched since `before` (unix ms); returns
   * how many. Several instances may share the store: a live writer's file is never taken.
   */
  removeTemporary(before: number): Promise<number>;
  /** Streams a whole object to `key` atomically (the one-request upload). */
  writeObject(key: string, body: Readable, opts: WriteOptions): Promise<WrittenBlob>;
  /** A byte range (inclusive) or the whole object as a stream; BlobNotFound when absent. */
  read(key: string, range?: { start: number; end: number }, opts?: ReadOptions): Promise<Readable>;
  /**
   * Optional: the object opened for reads into the caller's own buffers, so that a download can
   * recycle them instead of allocating every chunk (serve/pooled-body.ts). BlobNotFound when
   * absent, before any byte is read. `range` (inclusive) is what the caller means to read: a
   * store that fetches ahead (S3) fetches no further; reads elsewhere still work. Stores
   * without it are read through read().
   */
  openReader?(key: string, range?: { start: number; end: number }): Promise<BlobReader>;
  /**
   * A small byte range (inclusive) in memory: callers use it only below SMALL_READ_BYTES, where
   * a stream's set-up costs more than the bytes (a 4 KiB file served ~2× faster this way).
   */
  readSmall(key: string, range: { start: number; end: number }): Promise<Buffer>;
  stat(key: string): Promise<BlobStat | null>;
  delete(key: string): Promise<void>;
  /**
   * Moves the object at `fromKey` to `toKey`, copying no bytes where the store can (a hard
   * link on disk, a new alias on S3; an S3 object written whole is copied server-side): first
   * the bytes become readable at `toKey` too, then `commit()` runs (the caller switches its
   * record and answers whether it did), then `fromKey` goes; when commit answers false,
   * `toKey` goes and `fromKey` stays. Every step may run again, so after a crash the same call
   * finishes the move (commit then answers true for a record already switched). Answers what
   * commit answered; BlobNotFound when neither key holds the object.
   */
  move(fromKey: string, toKey: string, commit: () => Promise<boolean>): Promise<boolean>;
  health(): Promise<StorageHealth>;
  /**
   * Removes whole objects that no record names (a crash between writing the bytes and
   * committing the record, or between deleting the record and the bytes). Pages through what
   * is stored; returns how many were removed.
   */
  removeOrphanObjects(scan: OrphanScan): Promise<number>;
  /**
   * For X-Accel-Redirect: where the key's bytes live, '/'-separated and relative to the
   * store's root (not always the key: a key too long for the file system lives elsewhere),
   * or null when the bytes are not plain local files a web server could send.
   */
  accelPathOf(key: string): string | null;
  /**
   * Where a client may fetch the key's bytes itself (S3_DOWNLOAD_REDIRECT: a presigned GET
   * answering with the given headers), or null to have them streamed. Absent on stores that
   * never redirect. Called only after every check of the request has passed.
   */
  downloadUrl?(key: string, opts: DownloadLinkOptions): Promise<string | null>;
  /** Releases connections and handles (shutdown). */
  close(): Promise<void>;
}

/** An open object (BlobStore.openReader): positional reads until close(). */
export interface BlobReader {
  /**
   * Reads up to `length` bytes of the object at `position` into `buffer` at `offset`; resolves
   * with how many were read, 0 at or past the end (the object may be shorter than its record).
   */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Releases the handle once any read in flight is done; idempotent. */
  close(): Promise<void>;
}

/** The headers the store's own answer to a redirected download carries. */
export interface DownloadLinkOptions {
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
  /** The link's lifetime (the store may cap it: S3 at 60 s). */
  expiresInSeconds?: number;
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

const MOVABLE = Symbol('chunks movable');

/**
 * Marks a body whose chunks nothing reads once the store has written them (tus's re-cut parts:
 * their request chunks are copied aside before they go on), so that a store may hand them on
 * (disk: moved to the hash worker, not copied). Without the mark a store treats every chunk as
 * shared.
 */
export function movableChunks<T extends Readable>(body: T): T {
  (body as T & { [MOVABLE]?: true })[MOVABLE] = true;
  return body;
}

export const marksChunksMovable = (body: Readable): boolean => (body as Readable & { [MOVABLE]?: true })[MOVABLE] === true;
