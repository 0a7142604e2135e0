/**
 * Leases in SQLite: one row per name. Taking one is a single upsert whose update applies only
 * when the row is ours or expired, so two connections racing for a free or lapsed lease
 * cannot both win: the second writer sees the first one's row (the statement runs under the
 * write lock) and its condition fails. The same statement works in PostgreSQL.
 */
import type Database from 'better-sqlite3';
import type { LeaseStore } from './types.js';

export class SqliteLeaseStore implements LeaseStore {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      take: db.prepare(
        `INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expiresAt)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= @now`,
      ),
      release: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
      holder: db.prepare('SELECT holder FROM leases WHERE name = ? AND expires_at > ?').pluck(),
    };
  }

  async tryAcquire(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError(`tryAcquire: ttlMs must be positive, got ${ttlMs}`);
    return this.q.take.run({ name, holder, expiresAt: now + ttlMs, now }).changes === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    this.q.release.run(name, holder);
  }

  async holder(name: string, now: number): Promise<string | null> {
    return (this.q.holder.get(name, now) as string | undefined) ?? null;
  }
}
