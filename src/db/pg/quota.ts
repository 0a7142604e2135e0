/**
 * The quota ledger on PostgreSQL: `user_usage` holds, per user, the bytes and count of
 * finished files and of open uploads (as in sqlite-quota.ts). Many instances check and
 * reserve against the same row, so a check is made only while holding that row's lock
 * (SELECT … FOR UPDATE inside the caller's transaction): a second instance's check waits
 * until the first has committed its reservation, then sees it. Every change to the counters
 * is a relative UPDATE in the same transaction as the change it accounts for.
 */
import type { Taken, UsageDelta } from '../quota-rules.js';
import type { QuotaCheck } from '../types.js';
import type { Queryable } from './client.js';

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
