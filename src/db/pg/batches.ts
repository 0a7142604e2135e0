/**
 * Batch-download tokens on PostgreSQL: looked up by the token's sha256, never by the token.
 * A row names its files by id, concatenated (32 hex characters each, no separator), as in
 * SQLite. The per-user cap is checked and the row inserted under a transaction-scoped
 * advisory lock on the user, so two instances creating batches for one user at once count
 * each other's (a plain count-then-insert under READ COMMITTED lets both see room).
 */
import { LimitReached } from '../../errors/index.js';
import type { BatchRecord, BatchStore } from '../types.js';
import type { PgClient } from './client.js';
import { FILE_ID, type BatchRow, toBatch } from '../rows.js';

/** The advisory-lock class of batch caps (the lock's first key); the second is the user's hash. */
const BATCH_LOCK_CLASS = 0x62617463; // 'batc'

const SQL = {
  // Held until the transaction ends; users whose ids hash alike only wait for each other.
  lockUser: 'SELECT pg_advisory_xact_lock($1, hashtext($2))',
  insert: `INSERT INTO batch_downloads (token_hash, user_id, name, compression, file_ids, file_count, total_size, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  open: 'SELECT COUNT(*) AS n FROM batch_downloads WHERE user_id = $1 AND expires_at > $2',
  byHash: `SELECT token_hash, user_id, name, compression, file_ids, file_count, total_size, created_at, expires_at
           FROM batch_downloads WHERE token_hash = $1 AND expires_at > $2`,
  prune: 'DELETE FROM batch_downloads WHERE expires_at <= $1',
};

export class PgBatchStore implements BatchStore {
  constructor(private readonly db: PgClient) {}

  async createBatch(batch: BatchRecord, maxOpen: number): Promise<void> {
    // A malformed id would shift every id after it when the row is read back.
    if (!batch.fileIds.every((id) => FILE_ID.test(id))) throw new Error('createBatch: file ids must be 32 lower-case hex characters');
    const values = [
      batch.tokenHash,
      batch.userId,
      batch.name,
      batch.compression,
      batch.fileIds.join(''),
      batch.fileCount,
      batch.totalSize,
      batch.createdAt,
      batch.expiresAt,
    ];
    if (batch.userId === null) {
      await this.db.query(SQL.insert, values); // a batch of no user is not capped
      return;
    }
    const userId = batch.userId;
    await this.db.tx(async (c) => {
      await c.query(SQL.lockUser, [BATCH_LOCK_CLASS, userId]);
      // Read after the lock: a statement started now sees every batch committed by whoever held it.
      const open = (await c.query<{ n: number }>(SQL.open, [userId, batch.createdAt])).rows[0]!.n;
      if (open >= maxOpen) {
        throw new LimitReached('too_many_batches', `At most ${maxOpen} batch downloads may be unexpired at once; reuse a token or wait for one to expire`);
      }
      await c.query(SQL.insert, values);
    });
  }

  async countOpenBatches(userId: string, now: number): Promise<number> {
    return (await this.db.query<{ n: number }>(SQL.open, [userId, now])).rows[0]!.n;
  }

  async getBatch(tokenHash: string, now: number): Promise<BatchRecord | null> {
    const row = (await this.db.query<BatchRow>(SQL.byHash, [tokenHash, now])).rows[0];
    return row ? toBatch(row) : null;
  }

  async pruneBatches(now: number): Promise<number> {
    return (await this.db.query(SQL.prune, [now])).rowCount ?? 0;
  }
}
