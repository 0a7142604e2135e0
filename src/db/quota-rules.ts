/**
 * The quota and per-user caps, the same on every engine: what a reservation adds, what the
 * ledger holds, and the checks in their order (429 too_many_uploads, 413 file_count_exceeded,
 * 413 quota_exceeded). Each engine reads the ledger under its own lock and calls assertFits.
 */
import { LimitReached, QuotaExceeded } from '../errors/index.js';
import type { QuotaCheck } from './types.js';

/** What a reservation adds: bytes, files to be stored, uploads to be held open. */
export interface Addition {
  bytes: number;
  files: number;
  uploads: number;
}

/** A user's counters and quota, read under the engine's lock. */
export interface Taken {
  quota: number;
  taken: number;
  files: number;
  uploads: number;
}

/** A relative change to a user's counters. */
export interface UsageDelta {
  files?: number;
  used?: number;
  reserved?: number;
  uploads?: number;
}

/** Throws unless `add` still fits; an open upload counts as the file it will become. */
export function assertFits(row: Taken, quota: QuotaCheck, add: Addition): void {
  if (add.uploads > 0 && quota.maxOpenUploads !== undefined && row.uploads + add.uploads > quota.maxOpenUploads) {
    throw new LimitReached('too_many_uploads', `At most ${quota.maxOpenUploads} uploads may be open at once: ${row.uploads} are open, ${add.uploads} more asked; complete or abort some first`);
  }
  if (quota.maxFiles && row.files + row.uploads + add.files > quota.maxFiles) {
    throw new QuotaExceeded(`At most ${quota.maxFiles} files per user: ${row.files} stored and ${row.uploads} open uploads, ${add.files} more asked`, 'file_count_exceeded');
  }
  if (row.taken + add.bytes > row.quota) {
    const free = Math.max(0, row.quota - row.taken);
    throw new QuotaExceeded(`Storage quota exceeded: ${free} bytes free, ${add.bytes} asked`);
  }
}
