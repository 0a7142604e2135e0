/**
 * The upload part of the metadata store port: upload sessions, their recorded parts, and the
 * assembly lease. Races (a part against a completion, two completions, a dead instance's
 * completion) are settled by conditional writes and reported as outcomes.
 */
import type { OutboxEvent } from './outbox-types.js';
import type { FileRecord, QuotaCheck } from './types.js';
export type UploadState = 'open' | 'assembling' | 'completed';

export interface UploadRecord {
  id: string;
  userId: string;
  /**
   * 'tus', 'tus-partial' and 'tus-deferred': uploads made through /v1/tus/ (src/tus/), with the
   * same parts. 'tus-deferred': created without a length (Upload-Defer-Length), its size the
   * reservation (MAX_BODY_MB) until setLength makes it a 'tus' upload of its real size.
   */
  mode: 'single' | 'chunked' | 'batch' | 'tus' | 'tus-partial' | 'tus-deferred';
  filename: string;
  folder: string;
  size: number;
  mime: string;
  sha256: string | null;
  partSize: number;
  partCount: number;
  state: UploadState;
  /** Set when assembling starts (the key being written) and kept once completed. */
  fileKey: string | null;
  /** The BlobStore's reference for the upload (UploadHandle.ref; '' on disk). */
  blobRef: string;
  /** While assembling: until when (unix ms) the completing instance holds it; null otherwise. */
  leaseUntil: number | null;
  createdAt: number; // unix ms
  updatedAt: number; // unix ms: last activity, drives expiry
}

export interface PartRecord {
  partNumber: number;
  size: number;
  sha256: string;
  /** The BlobStore's name for the copy that counts (WrittenPart.ref). */
  ref: string;
}

/** What recording a part did: a race is an outcome, not an exception. */
export type PutPartOutcome =
  | { outcome: 'recorded'; /** the copy this one replaced, for the caller to discard */ replaced: PartRecord | null }
  | { outcome: 'not_found' }
  | { outcome: 'not_open' };

/** What registering a part write did (beginPartWrite). */
export type PartWriteOutcome = 'registered' | 'not_open' | 'not_found';

/**
 * What setLength did: `set` (the upload as it is now), or `kept` with the row unchanged when it
 * was not open, not deferred any more, or the size asked is above the reservation.
 */
export type SetLengthOutcome = { outcome: 'set' | 'kept'; upload: UploadRecord } | { outcome: 'not_found' };

/** What deleteUpload did: `kept` when the upload's state or activity did not allow it. */
export type DeleteUploadOutcome = { outcome: 'deleted' | 'kept'; upload: UploadRecord } | { outcome: 'not_found' };

export interface UploadStore {
  /**
   * Creates uploads and reserves their declared sizes, atomically against the quota and the
   * caps on open uploads (LimitReached('too_many_uploads')) and files (QuotaExceeded('file_count_exceeded')).
   */
  createUploads(uploads: UploadRecord[], quota: QuotaCheck): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | null>;
  /**
   * Records (or replaces) a received part and refreshes the upload's activity time, in one
   * conditional write that succeeds only while the upload is open: a part racing a
   * completion either lands before the upload leaves 'open' or is refused ('not_open').
   */
  putPart(uploadId: string, part: PartRecord, now: number): Promise<PutPartOutcome>;
  listParts(uploadId: string): Promise<PartRecord[]>;
  /**
   * Fixes the length of an open 'tus-deferred' upload, in one conditional write under the row
   * lock: size becomes `size` (at most the size reserved), partCount follows (partSize stays:
   * recorded parts keep their numbers), mode becomes 'tus', the activity time `now`, and the
   * reservation shrinks to `size` in the same transaction.
   */
  setLength(uploadId: string, size: number, now: number): Promise<SetLengthOutcome>;
  /**
   * Forgets a recorded part while the upload is open (its stored copy was replaced by one that
   * was refused: a store without distinct part copies); false when there was none or the
   * upload is not open.
   */
  dropPart(uploadId: string, partNumber: number, now: number): Promise<boolean>;
  /**
   * open → assembling with the target key and a lease until `leaseUntil` (unix ms); false
   * when the upload was not open. Only the lease holder (known by `fileKey`) may finish.
   */
  beginAssembly(uploadId: string, fileKey: string, now: number, leaseUntil: number): Promise<boolean>;
  /** Extends the lease while this attempt (`fileKey`) still holds it; false when it lost it. */
  renewAssembly(uploadId: string, fileKey: string, leaseUntil: number): Promise<boolean>;
  /** assembling → open for this attempt (a failed completion); false when it no longer held it. */
  abortAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean>;
  /**
   * While this attempt (`fileKey`) holds the assembly: the store's reference and the named
   * parts' copy refs are replaced in one write (a store that re-opened joined parts as a fresh
   * upload area, BlobStore.reopenJoined); false (nothing written) when it no longer held it.
   */
  rebaseAssembly(uploadId: string, fileKey: string, blobRef: string, parts: { partNumber: number; ref: string }[]): Promise<boolean>;
  /**
   * assembling → open for an attempt whose lease ran out before `now` (its instance died or
   * hung); false when the lease was renewed, finished or reclaimed meanwhile.
   */
  reclaimAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean>;
  /** One page of uploads assembling whose lease ran out by `now` (leaseUntil <= now), by id after `afterId`. */
  expiredAssemblies(now: number, limit: number, afterId?: string): Promise<UploadRecord[]>;
  /**
   * assembling → completed for this attempt (`file.key`), inserting the file and releasing the
   * reservation, in one transaction; false (nothing written) when the attempt lost its lease.
   * `event` (file.created) is written to the outbox in that transaction.
   */
  finishAssembly(uploadId: string, file: FileRecord, event?: OutboxEvent): Promise<boolean>;
  /**
   * Removes the upload and its parts' records when it is in one of `when.states` (default:
   * any) and idle since before `when.idleBefore` (default: any time), in one conditional write.
   * `event` (upload.expired) is written in that transaction, only when the upload was deleted.
   */
  deleteUpload(id: string, when?: { states?: UploadState[]; idleBefore?: number }, event?: OutboxEvent): Promise<DeleteUploadOutcome>;
  /**
   * One page of uploads idle since before `before` (unix ms) and not being assembled, oldest
   * first, after the keyset position `after` (the last row of the previous page).
   */
  staleUploads(before: number, limit: number, after?: { updatedAt: number; id: string }): Promise<UploadRecord[]>;
  /**
   * The part-write fence (BlobCapabilities.fencedPartWrites): registers a write that is about
   * to send a part's bytes to the store, holding a lease until `leaseUntil`. Refused unless
   * the upload is open, in one conditional write ordered against beginAssembly: a completion
   * sees every write that began before it left 'open', and none begins after.
   */
  beginPartWrite(uploadId: string, writeId: string, now: number, leaseUntil: number): Promise<PartWriteOutcome>;
  /**
   * Extends a registered write's lease (while its row exists, whatever the upload's state: a
   * write whose last byte is out must stay visible until the store answers it); true while
   * the upload is still open, false otherwise (the writer stops if it still can).
   */
  renewPartWrite(uploadId: string, writeId: string, leaseUntil: number): Promise<boolean>;
  /** Forgets a write whose request is over (answered, or cut before its last byte). Idempotent. */
  endPartWrite(uploadId: string, writeId: string): Promise<void>;
  /** How many registered writes of the upload hold a lease past `now` (a completion waits for 0). */
  livePartWrites(uploadId: string, now: number): Promise<number>;
  /**
   * tus concatenation: keeps the partial upload URLs (as the client sent them) that the final
   * upload stored as the file `fileId` was made of; they go when the file goes.
   */
  recordConcat(fileId: string, partialUrls: string[]): Promise<void>;
  /** The partial URLs recordConcat kept for the file; null when none (or the file is gone). */
  concatOf(fileId: string): Promise<string[] | null>;
  /** How many uploads are in a given state, counted in SQL (the metrics gauge). */
  countUploads(state: UploadState): Promise<number>;
  /** Those of `ids` that name an upload (any state). */
  knownUploadIds(ids: string[]): Promise<Set<string>>;
}
