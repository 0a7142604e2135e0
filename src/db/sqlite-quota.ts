/**
 * Quota bookkeeping shared by files and uploads. `user_usage` holds, per user, the bytes and
 * count of finished files and the bytes and count of open uploads; every change to any of
 * them happens in the same transaction as the change it accounts for, so each
 * check-and-reserve is atomic and the counters stay exact under races. Across connections
 * (processes) that holds because our transactions take the write lock at BEGIN (see
 * WriteLockingDatabase in sqlite.ts): no other writer commits between the check and the write.
 */
import type Database from 'better-sqlite3';
import { assertFits, type Addition, type Taken, type UsageDelta } from './quota-rules.js';
import type { QuotaCheck } from './types.js';

export class QuotaLedger {
  private readonly taken;
  private readonly adjust;

  constructor(db: Database.Database) {
    this.taken = db.prepare(
      `SELECT COALESCE((SELECT quota_bytes FROM users WHERE id = @userId AND deleted_at IS NULL), @defaultQuota) AS quota,
              COALESCE(u.used_bytes + u.reserved_bytes, 0) AS taken,
              COALESCE(u.file_count, 0) AS files,
              COALESCE(u.open_uploads, 0) AS uploads
       FROM (SELECT 1) LEFT JOIN user_usage u ON u.user_id = @userId`,
    );
    this.adjust = db.prepare(
      `INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes, open_uploads) VALUES (@userId, @files, @used, @reserved, @uploads)
       ON CONFLICT (user_id) DO UPDATE SET
         file_count = user_usage.file_count + excluded.file_count,
         used_bytes = user_usage.used_bytes + excluded.used_bytes,
         reserved_bytes = user_usage.reserved_bytes + excluded.reserved_bytes,
         open_uploads = user_usage.open_uploads + excluded.open_uploads`,
    );
  }

  /** Throws unless `add` still fits (quota-rules.ts). Call inside a transaction. */
  assertFits(quota: QuotaCheck, add: Addition): void {
    const row = this.taken.get({ userId: quota.userId, defaultQuota: quota.defaultQuotaBytes }) as Taken;
    assertFits(row, quota, add);
  }

  change(userId: string, delta: UsageDelta): void {
    this.adjust.run({ userId, files: delta.files ?? 0, used: delta.used ?? 0, reserved: delta.reserved ?? 0, uploads: delta.uploads ?? 0 });
  }
}
