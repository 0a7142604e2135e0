/**
 * Quota bookkeeping shared by files and uploads. `user_usage` holds, per user, the bytes and
 * count of finished files and the bytes and count of open uploads; every change to any of
 * them happens in the same transaction as the change it accounts for, so each
 * check-and-reserve is atomic and the counters stay exact under races. Across connections
 * (processes) that holds because our transactions take the write lock at BEGIN (see
 * WriteLockingDatabase in sqlite.ts): no other writer commits between the check and the write.
 */
import type Database from 'better-sqlite3';
import { QuotaExceeded, LimitReached } from '../errors/index.js';
import type { QuotaCheck } from './types.js';

/** What a reservation adds: bytes, files to be stored, uploads to be held open. */
export interface Addition {
  bytes: number;
  files: number;
  uploads: number;
}

interface TakenRow {
  quota: number;
  taken: number;
  files: number;
  uploads: number;
}

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

  /**
   * Throws unless `add` still fits: 429 too_many_uploads, 413 file_count_exceeded or 413
   * quota_exceeded, in that order. An open upload counts as the file it will become, as its
   * bytes are reserved. Call inside a transaction.
   */
  assertFits(quota: QuotaCheck, add: Addition): void {
    const row = this.taken.get({ userId: quota.userId, defaultQuota: quota.defaultQuotaBytes }) as TakenRow;
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

  change(userId: string, delta: { files?: number; used?: number; reserved?: number; uploads?: number }): void {
    this.adjust.run({ userId, files: delta.files ?? 0, used: delta.used ?? 0, reserved: delta.reserved ?? 0, uploads: delta.uploads ?? 0 });
  }
}
