/**
 * Login-failure windows on PostgreSQL (table login_failures), shared by every instance: the
 * FailureCounts port of src/auth/throttle.ts. Counting a failure is one upsert that opens a
 * new window when the last one ended and otherwise adds one only while under the limit, so
 * concurrent guesses on any instances are counted exactly and never past the limit (a second
 * writer waits for the first's row lock and re-checks the condition against its count).
 */
import type { FailureCounts } from '../../auth/throttle.js';
import type { PgClient } from './client.js';

const SQL = {
  // $1 key, $2 now, $3 window (ms), $4 limit (null: none).
  take: `INSERT INTO login_failures AS w (key, count, reset_at) VALUES ($1, 1, $2::bigint + $3::bigint)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN w.reset_at <= $2 THEN 1 ELSE w.count + 1 END,
           reset_at = CASE WHEN w.reset_at <= $2 THEN $2::bigint + $3::bigint ELSE w.reset_at END
         WHERE w.reset_at <= $2 OR $4::integer IS NULL OR w.count < $4::integer
         RETURNING count`,
  resetAt: 'SELECT reset_at FROM login_failures WHERE key = $1 AND reset_at > $2',
  count: 'SELECT count FROM login_failures WHERE key = $1 AND reset_at > $2',
  forgive: 'UPDATE login_failures SET count = count - 1 WHERE key = $1 AND reset_at > $2 AND count > 0',
  reset: 'DELETE FROM login_failures WHERE key = $1',
  prune: 'DELETE FROM login_failures WHERE reset_at <= $1',
};

export class PgFailureCounts implements FailureCounts {
  constructor(private readonly db: PgClient) {}

  async take(key: string, limit: number | null, windowMs: number, now: number): Promise<{ counted: true } | { counted: false; retryInMs: number }> {
    const { rowCount } = await this.db.query(SQL.take, [key, now, windowMs, limit]);
    if (rowCount === 1) return { counted: true };
    // Refused: the window is full. Its end, read by a new statement (one that sees the row the
    // upsert met even if it was committed after the upsert began); gone already: a full window.
    const row = (await this.db.query<{ reset_at: number }>(SQL.resetAt, [key, now])).rows[0];
    return { counted: false, retryInMs: row ? row.reset_at - now : windowMs };
  }

  async count(key: string, now: number): Promise<number> {
    return (await this.db.query<{ count: number }>(SQL.count, [key, now])).rows[0]?.count ?? 0;
  }

  async forgive(key: string, now: number): Promise<void> {
    await this.db.query(SQL.forgive, [key, now]);
  }

  async reset(key: string): Promise<void> {
    await this.db.query(SQL.reset, [key]);
  }

  async prune(now: number): Promise<number> {
    return (await this.db.query(SQL.prune, [now])).rowCount ?? 0;
  }
}
