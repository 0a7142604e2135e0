/**
 * The webhook outbox on PostgreSQL. Other stores call `insertEvent` with their transaction's
 * client, so an event commits with its change or not at all. Claims lock the rows they take
 * with FOR UPDATE SKIP LOCKED and write a lease, so instances claiming at once never share
 * a row and never wait on each other.
 */
import type { AttemptOutcome, Delivery, DeliveryStatus, OutboxEvent, OutboxStore } from '../outbox-types.js';
import { type DeliveryRow, outcomeColumns, toDelivery, UNSETTLED } from '../outbox-rows.js';
import type { PgClient, Queryable } from './client.js';

const SQL = {
  insert: `INSERT INTO webhook_deliveries (event_id, url, user_id, type, payload, created_at, status, attempts, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $6)
           ON CONFLICT (event_id, url) DO NOTHING`,
  // The head of each (user, url) queue, due and not leased. A row another instance just
  // leased is skipped while locked, and re-checked (its new lease) once that commits.
  claim: `UPDATE webhook_deliveries SET lease_until = $3, lease_holder = $1
          WHERE seq IN (
            SELECT d.seq FROM webhook_deliveries d
            WHERE d.status IN ${UNSETTLED} AND d.next_attempt_at <= $2 AND (d.lease_until IS NULL OR d.lease_until <= $2)
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                              WHERE e.user_id = d.user_id AND e.url = d.url AND e.seq < d.seq AND e.status IN ${UNSETTLED})
            ORDER BY d.seq LIMIT $4
            FOR UPDATE SKIP LOCKED)
          RETURNING *`,
  settle: `UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, last_attempt_at = $4, last_error = $5,
             next_attempt_at = COALESCE($6, next_attempt_at), delivered_at = $7, lease_until = NULL, lease_holder = NULL
           WHERE seq = $1 AND lease_holder = $2 AND status IN ${UNSETTLED}`,
  list: `SELECT * FROM webhook_deliveries WHERE ($1::text IS NULL OR status = $1) AND seq < $2 ORDER BY seq DESC LIMIT $3`,
  prune: `DELETE FROM webhook_deliveries WHERE seq IN (
            SELECT seq FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND last_attempt_at < $1 LIMIT $2)`,
};

/** Writes the event's rows with the caller's transaction client. */
export async function insertEvent(c: Queryable, event: OutboxEvent | undefined): Promise<void> {
  if (!event) return;
  for (const url of event.urls) {
    await c.query(SQL.insert, [event.id, url, event.userId, event.type, event.payload, event.createdAt]);
  }
}

export class PgOutbox implements OutboxStore {
  constructor(private readonly db: PgClient) {}

  async append(event: OutboxEvent): Promise<void> {
    await this.db.tx((c) => insertEvent(c, event));
  }

  async claimDue(holder: string, now: number, leaseUntil: number, limit: number): Promise<Delivery[]> {
    const { rows } = await this.db.query<DeliveryRow>(SQL.claim, [holder, now, leaseUntil, limit]);
    return rows.map(toDelivery).sort((a, b) => a.seq - b.seq);
  }

  async settle(seq: number, holder: string, result: AttemptOutcome): Promise<boolean> {
    const o = outcomeColumns(result);
    const { rowCount } = await this.db.query(SQL.settle, [seq, holder, o.status, o.at, o.error, o.next, o.deliveredAt]);
    return rowCount === 1;
  }

  async list(query: { status?: DeliveryStatus; limit: number; beforeSeq?: number }): Promise<Delivery[]> {
    const { rows } = await this.db.query<DeliveryRow>(SQL.list, [query.status ?? null, query.beforeSeq ?? Number.MAX_SAFE_INTEGER, query.limit]);
    return rows.map(toDelivery);
  }

  async prune(before: number, limit: number): Promise<number> {
    const { rowCount } = await this.db.query(SQL.prune, [before, limit]);
    return rowCount ?? 0;
  }
}
