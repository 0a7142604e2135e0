/**
 * Batch-download tokens in SQLite: looked up by the token's sha256, never by the token.
 * A row names its files by id, concatenated (32 hex characters each, no separator): 9,400
 * files cost 300 KB, where a JSON copy of their keys cost 10 MB.
 */
import type Database from 'better-sqlite3';
import { LimitReached } from '../errors/index.js';
import type { BatchRecord, BatchStore } from './types.js';
import { FILE_ID, type BatchRow, toBatch } from './rows.js';

export class SqliteBatchStore implements BatchStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO batch_downloads (token_hash, user_id, name, compression, file_ids, file_count, total_size, created_at, expires_at)
         VALUES (@tokenHash, @userId, @name, @compression, @fileIds, @fileCount, @totalSize, @createdAt, @expiresAt)`,
      ),
      open: db.prepare('SELECT COUNT(*) FROM batch_downloads WHERE user_id = ? AND expires_at > ?').pluck(),
      byHash: db.prepare('SELECT * FROM batch_downloads WHERE token_hash = ? AND expires_at > ?'),
      prune: db.prepare('DELETE FROM batch_downloads WHERE expires_at <= ?'),
    };
  }

  async createBatch(batch: BatchRecord, maxOpen: number): Promise<void> {
    // A malformed id would shift every id after it when the row is read back.
    if (!batch.fileIds.every((id) => FILE_ID.test(id))) throw new Error('createBatch: file ids must be 32 lower-case hex characters');
    const { fileIds, ...rest } = batch;
    this.db.transaction(() => {
      if (batch.userId !== null && (this.q.open.get(batch.userId, batch.createdAt) as number) >= maxOpen) {
        throw new LimitReached('too_many_batches', `At most ${maxOpen} batch downloads may be unexpired at once; reuse a token or wait for one to expire`);
      }
      this.q.insert.run({ ...rest, fileIds: fileIds.join('') });
    })();
  }

  async countOpenBatches(userId: string, now: number): Promise<number> {
    return this.q.open.get(userId, now) as number;
  }

  async getBatch(tokenHash: string, now: number): Promise<BatchRecord | null> {
    const row = this.q.byHash.get(tokenHash, now) as BatchRow | undefined;
    return row ? toBatch(row) : null;
  }

  async pruneBatches(now: number): Promise<number> {
    return this.q.prune.run(now).changes;
  }
}
