/**
 * Where a tus upload stands, read from what is durable: the upload record, its recorded parts
 * (fixed-size parts of the native protocol), and at most one "tail" — the bytes received past
 * the last whole part, kept as an object of their own until they fill the next part.
 *
 *   offset = whole parts × partSize + tail length        (every part but the last is partSize)
 *
 * The tail of part n lives under tailKey(upload, n): a PATCH that fills part n records the
 * part, and from then on that tail is stale (offsets only read the tail of the first missing
 * part), so a crash between recording the part and deleting the tail never counts bytes twice.
 * A tail is replaced whole (BlobStore.writeObject is atomic), never appended to in place.
 */
import type { PartRecord, UploadRecord } from '../db/types.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { UploadStore } from '../db/upload-types.js';

/**
 * tus uploads are upload records of these modes; anything else is not reachable under /v1/tus/.
 * 'tus-deferred' is a plain upload whose length is not known yet (Upload-Defer-Length): its
 * size is the reservation (MAX_BODY_MB) until a PATCH brings Upload-Length (UploadStore.setLength).
 */
export const TUS_MODES = ['tus', 'tus-partial', 'tus-deferred'] as const;
export type TusMode = (typeof TUS_MODES)[number];
export const isTusUpload = (u: UploadRecord): boolean => (TUS_MODES as readonly string[]).includes(u.mode);
export const isDeferred = (u: UploadRecord): boolean => u.mode === 'tus-deferred';

export interface TusState {
  upload: UploadRecord;
  /** Parts 1…whole are recorded (the whole-part prefix of the upload). */
  whole: number;
  /** Recorded parts by number: the refs of the prefix, for a rollback. */
  parts: Map<number, PartRecord>;
  /** Bytes of part whole+1 received so far (its tail object's size; 0 when none). */
  tail: number;
  offset: number;
}

/**
 * A hidden object beside the user's files: `.tus` is a folder no file key can be confused
 * with (file names are `{32 hex}_{name}`, tails `{uploadId}.{part}`).
 */
export function tailKey(upload: Pick<UploadRecord, 'id' | 'userId'>, partNumber: number): string {
  return `storage/${upload.userId}/.tus/${upload.id}.${partNumber}`;
}

/** Bytes before part `n` (1-based): every part but the last is partSize. */
export const startOfPart = (upload: UploadRecord, n: number): number => (n - 1) * upload.partSize;

/** The exact size of part `n`: partSize, or what is left for the last one. */
export const sizeOfPart = (upload: UploadRecord, n: number): number => (n < upload.partCount ? upload.partSize : upload.size - startOfPart(upload, upload.partCount));

export async function readState(uploads: UploadStore, blobs: BlobStore, upload: UploadRecord): Promise<TusState> {
  if (upload.state !== 'open') return { upload, whole: upload.partCount, parts: new Map(), tail: 0, offset: upload.size };
  const parts = new Map((await uploads.listParts(upload.id)).map((p) => [p.partNumber, p]));
  let whole = 0;
  while (whole < upload.partCount && parts.get(whole + 1)?.size === sizeOfPart(upload, whole + 1)) whole++;
  if (whole === upload.partCount) return { upload, whole, parts, tail: 0, offset: upload.size };
  const tail = (await blobs.stat(tailKey(upload, whole + 1)))?.size ?? 0;
  return { upload, whole, parts, tail, offset: startOfPart(upload, whole + 1) + tail };
}
