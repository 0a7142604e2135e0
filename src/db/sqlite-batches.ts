/** Batch-download tokens in SQLite: looked up by the token's sha256, never by the token. */
import type Database from 'better-sqlite3';
import type { BatchRecord, BatchStore } from './types.js';

interface BatchRow {
  token_hash: string;
  user_id: string | null;
  name: string;
  compression: string;
  keys_json: string;
  file_count: number;
  total_size: number;
  created_at: number;
  expires_at: number;
}

const toBatch = (r: BatchRow): BatchRecord => ({
  tokenHash: r.token_hash,
  userId: r.user_id,
  name: r.name,
  compression: r.compression === 'deflate' ? 'deflate' : 'store',
  keys: JSON.parse(r.keys_json) as string[],
  fileCount: r.file_count,
  totalSize: r.total_size,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export class SqliteBatchStore implements BatchStore {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO batch_downloads (token_hash, user_id, name, compression, keys_json, file_count, total_size, created_at, expires_at)
         VALUES (@tokenHash, @userId, @name, @compression, @keysJson, @fileCount, @totalSize, @createdAt, @expiresAt)`,
      ),
      byHash: db.prepare('SELECT * FROM batch_downloads WHERE token_hash = ? AND expires_at > ?'),
      prune: db.prepare('DELETE FROM batch_downloads WHERE expires_at <= ?'),
    };
  }

  async createBatch(batch: BatchRecord): Promise<void> {
    const { keys, ...rest } = batch;
    this.q.insert.run({ ...rest, keysJson: JSON.stringify(keys) });
  }

  async getBatch(tokenHash: string, now: number): Promise<BatchRecord | null> {
    const row = this.q.byHash.get(tokenHash, now) as BatchRow | undefined;
    return row ? toBatch(row) : null;
  }

  async pruneBatches(now: number): Promise<number> {
    return this.q.prune.run(now).changes;
  }
}
