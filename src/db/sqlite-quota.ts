/**
 * Quota bookkeeping shared by files and uploads. `user_usage` holds, per user, the bytes of
 * finished files and the bytes reserved by open uploads; every change to either happens in
 * the same transaction as the change it accounts for, so the check-and-reserve is atomic.
 */
import type Database from 'better-sqlite3';
import { PayloadTooLargeError } from '../http/errors.js';
import type { QuotaCheck } from './types.js';

export class QuotaLedger {
  private readonly taken;
  private readonly adjust;

  constructor(db: Database.Database) {
    this.taken = db.prepare(
      `SELECT COALESCE((SELECT quota_bytes FROM users WHERE id = @userId AND deleted_at IS NULL), @defaultQuota) AS quota,
              COALESCE((SELECT used_bytes + reserved_bytes FROM user_usage WHERE user_id = @userId), 0) AS taken`,
    );
    this.adjust = db.prepare(
      `INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes) VALUES (@userId, @files, @used, @reserved)
       ON CONFLICT (user_id) DO UPDATE SET
         file_count = user_usage.file_count + excluded.file_count,
         used_bytes = user_usage.used_bytes + excluded.used_bytes,
         reserved_bytes = user_usage.reserved_bytes + excluded.reserved_bytes`,
    );
  }

  /** Throws 413 quota_exceeded unless `extraBytes` more still fit. Call inside a transaction. */
  assertFits(quota: QuotaCheck, extraBytes: number): void {
    const row = this.taken.get({ userId: quota.userId, defaultQuota: quota.defaultQuotaBytes }) as { quota: number; taken: number };
    if (row.taken + extraBytes > row.quota) {
      throw new PayloadTooLargeError('Storage quota exceeded', 'quota_exceeded');
    }
  }

  change(userId: string, delta: { files?: number; used?: number; reserved?: number }): void {
    this.adjust.run({ userId, files: delta.files ?? 0, used: delta.used ?? 0, reserved: delta.reserved ?? 0 });
  }
}
