/**
 * The quota ledger on PostgreSQL: `user_usage` holds, per user, the bytes and count of
 * finished files and of open uploads (as in sqlite-quota.ts). Many instances check and
 * reserve against the same row, so a check is made only while holding that row's lock
 * (SELECT … FOR UPDATE inside the caller's transaction): a second instance's check waits
 * until the first has committed its reservation, then sees it. Every change to the counters
 * is a relative UPDATE in the same transaction as the change it accounts for.
 */
import { LimitReached, QuotaExceeded } from '../../errors/index.js';
import type { QuotaCheck } from '../types.js';
import type { Queryable } from './client.js';

/** What a reservation adds: bytes, files to be stored, uploads to be held open. */
export interface Addition {
  bytes: number;
  files: number;
  uploads: number;
}

/** A user's counters and quota as read under the row lock. */
export interface Taken {
  quota: number;
  taken: number;
  files: number;
  uploads: number;
}

export interface UsageDelta {
  files?: number;
  used?: number;
  reserved?: number;
  uploads?: number;
}

// The quota is the user's override while the user exists, else the caller's default.
const LOCK_SQL = `
  SELECT COALESCE((SELECT quota_bytes FROM users WHERE id = $1 AND deleted_at IS NULL), $2::bigint) AS quota,
         used_bytes + reserved_bytes AS taken, file_count AS files, open_uploads AS uploads
  FROM user_usage WHERE user_id = $1 FOR UPDATE`;

/**
 * Locks the user's ledger row for the rest of the transaction and reads it. A user's first
 * reservation creates the row first (ON CONFLICT DO NOTHING: two instances creating it at
 * once both go on, the second after the first commits), so there is always a row to lock.
 */
export async function lockUsage(c: Queryable, quota: QuotaCheck): Promise<Taken> {
  const params = [quota.userId, quota.defaultQuotaBytes];
  let row = (await c.query<Taken>(LOCK_SQL, params)).rows[0];
  if (!row) {
    await c.query('INSERT INTO user_usage (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING', [quota.userId]);
    row = (await c.query<Taken>(LOCK_SQL, params)).rows[0];
  }
  if (!row) throw new Error(`user_usage row of ${quota.userId} vanished under its lock`);
  return row;
}

/**
 * Throws unless `add` still fits: 429 too_many_uploads, 413 file_count_exceeded or 413
 * quota_exceeded, in that order (the same checks and messages as SQLite's ledger). An open
 * upload counts as the file it will become, as its bytes are reserved.
 */
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

/**
 * Adds `delta` to the user's counters: relative, so it is right whatever committed meanwhile;
 * an upsert, so a row written by another path (a data copy) is never a precondition.
 */
export async function changeUsage(c: Queryable, userId: string, d: UsageDelta): Promise<void> {
  await c.query(
    `INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes, open_uploads) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id) DO UPDATE SET
       file_count = user_usage.file_count + excluded.file_count,
       used_bytes = user_usage.used_bytes + excluded.used_bytes,
       reserved_bytes = user_usage.reserved_bytes + excluded.reserved_bytes,
       open_uploads = user_usage.open_uploads + excluded.open_uploads`,
    [userId, d.files ?? 0, d.used ?? 0, d.reserved ?? 0, d.uploads ?? 0],
  );
}
