/**
 * The webhook outbox in SQLite. Other stores call `insertInTransaction` inside their own
 * transaction, so an event is committed with its change or not at all. Every claim runs
 * under SQLite's write lock (IMMEDIATE transactions), so processes on one file never claim
 * the same row.
 */
import type Database from 'better-sqlite3';
import type { AttemptOutcome, Delivery, DeliveryStatus, OutboxEvent, OutboxStore } from './outbox-types.js';
import { type DeliveryRow, outcomeColumns, toDelivery, UNSETTLED } from './outbox-rows.js';

export class SqliteOutbox implements OutboxStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO webhook_deliveries (event_id, url, user_id, type, payload, created_at, status, attempts, next_attempt_at)
         VALUES (@id, @url, @userId, @type, @payload, @createdAt, 'pending', 0, @createdAt)
         ON CONFLICT (event_id, url) DO NOTHING`,
      ),
      // The head of each (user, url) queue: no unsettled delivery before it in its queue.
      due: db.prepare(
        `SELECT * FROM webhook_deliveries d
         WHERE d.status IN ${UNSETTLED} AND d.next_attempt_at <= @now AND (d.lease_until IS NULL OR d.lease_until <= @now)
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                           WHERE e.user_id = d.user_id AND e.url = d.url AND e.seq < d.seq AND e.status IN ${UNSETTLED})
         ORDER BY d.seq LIMIT @limit`,
      ),
      lease: db.prepare('UPDATE webhook_deliveries SET lease_until = @leaseUntil, lease_holder = @holder WHERE seq = @seq'),
      settle: db.prepare(
        `UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1, last_attempt_at = @at, last_error = @error,
           next_attempt_at = COALESCE(@next, next_attempt_at), delivered_at = @deliveredAt, lease_until = NULL, lease_holder = NULL
         WHERE seq = @seq AND lease_holder = @holder AND status IN ${UNSETTLED}`,
      ),
      list: db.prepare(
        `SELECT * FROM webhook_deliveries WHERE (@status IS NULL OR status = @status) AND seq < @before ORDER BY seq DESC LIMIT @limit`,
      ),
      prune: db.prepare(
        `DELETE FROM webhook_deliveries WHERE seq IN (
           SELECT seq FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND last_attempt_at < @before LIMIT @limit)`,
      ),
    };
  }

  /** The event's rows; for use inside a caller's transaction. */
  insertInTransaction(event: OutboxEvent | undefined): void {
    if (!event) return;
    for (const url of event.urls) this.q.insert.run({ ...event, url });
  }

  async append(event: OutboxEvent): Promise<void> {
    this.db.transaction(() => this.insertInTransaction(event))();
  }

  async claimDue(holder: string, now: number, leaseUntil: number, limit: number): Promise<Delivery[]> {
    return this.db.transaction(() => {
      const rows = this.q.due.all({ now, limit }) as DeliveryRow[];
      for (const r of rows) this.q.lease.run({ seq: r.seq, holder, leaseUntil });
      return rows.map(toDelivery);
    })();
  }

  async settle(seq: number, holder: string, result: AttemptOutcome): Promise<boolean> {
    return this.q.settle.run({ seq, holder, ...outcomeColumns(result) }).changes === 1;
  }

  async list(query: { status?: DeliveryStatus; limit: number; beforeSeq?: number }): Promise<Delivery[]> {
    const rows = this.q.list.all({ status: query.status ?? null, before: query.beforeSeq ?? Number.MAX_SAFE_INTEGER, limit: query.limit }) as DeliveryRow[];
    return rows.map(toDelivery);
  }

  async prune(before: number, limit: number): Promise<number> {
    return this.q.prune.run({ before, limit }).changes;
  }
}
