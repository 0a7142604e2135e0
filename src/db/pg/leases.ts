/**
 * Leases on PostgreSQL: one row per name. Taking one is a single upsert whose update applies
 * only when the row is ours or expired. Two instances racing for a free name: the second
 * insert waits for the first to commit, then meets its row, and the condition fails; racing
 * for a lapsed one: the second update waits for the first's row lock and re-checks the
 * condition against the row the first wrote. Either way one changes a row, one does not.
 */
import type { LeaseStore } from '../types.js';
import type { PgClient } from './client.js';

const SQL = {
  take: `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4`,
  release: 'DELETE FROM leases WHERE name = $1 AND holder = $2',
  holder: 'SELECT holder FROM leases WHERE name = $1 AND expires_at > $2',
};

export class PgLeaseStore implements LeaseStore {
  constructor(private readonly db: PgClient) {}

  async tryAcquire(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError(`tryAcquire: ttlMs must be positive, got ${ttlMs}`);
    return (await this.db.query(SQL.take, [name, holder, now + ttlMs, now])).rowCount === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.query(SQL.release, [name, holder]);
  }

  async holder(name: string, now: number): Promise<string | null> {
    return (await this.db.query<{ holder: string }>(SQL.holder, [name, now])).rows[0]?.holder ?? null;
  }
}
