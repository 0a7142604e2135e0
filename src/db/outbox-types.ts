/**
 * The webhook outbox port (src/events/ builds the events and delivers them). An event is
 * written by the store method that makes the change it reports, in that change's
 * transaction: it exists if and only if the change committed. One delivery row per event and
 * destination URL; a user's deliveries to one URL go out in the order they were written.
 */

/** An event to write with a change: one delivery per URL in `urls`. */
export interface OutboxEvent {
  /** The Standard Webhooks message id (webhook-id), the same on every retry. */
  id: string;
  type: string;
  /** Whose queue it joins: a user's next event to a URL waits until this one is settled. */
  userId: string;
  createdAt: number; // unix ms
  /** The JSON body, sent byte for byte as stored (the signature covers these bytes). */
  payload: string;
  urls: string[];
}

/** pending: not tried yet; retrying: failed, tried again at nextAttemptAt; failed: given up. */
export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed';

export interface Delivery {
  seq: number;
  eventId: string;
  url: string;
  userId: string;
  type: string;
  payload: string;
  createdAt: number;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  lastError: string | null;
  deliveredAt: number | null;
}

/** What one attempt decided: delivered, retry at `nextAttemptAt`, or give up. */
export type AttemptOutcome =
  | { outcome: 'delivered'; at: number }
  | { outcome: 'retry'; at: number; error: string; nextAttemptAt: number }
  | { outcome: 'failed'; at: number; error: string };

export interface OutboxStore {
  /** Writes an event alone (a change with no store method of its own); tests use it too. */
  append(event: OutboxEvent): Promise<void>;
  /**
   * Claims up to `limit` due deliveries for `holder` until `leaseUntil` (unix ms): each the
   * oldest unsettled delivery of its (user, url) queue, due by `now`, and not leased by
   * another live holder. One conditional write per row (FOR UPDATE SKIP LOCKED on
   * PostgreSQL), so instances claiming at once never share a row, and a later event of the
   * same queue is never claimed while an earlier one is unsettled.
   */
  claimDue(holder: string, now: number, leaseUntil: number, limit: number): Promise<Delivery[]>;
  /** Records an attempt's outcome and frees the lease, only while `holder` holds it; false otherwise. */
  settle(seq: number, holder: string, result: AttemptOutcome): Promise<boolean>;
  /** Newest first, by seq before `beforeSeq`; `status` filters. */
  list(query: { status?: DeliveryStatus; limit: number; beforeSeq?: number }): Promise<Delivery[]>;
  /** Drops delivered and failed rows settled before `before` (unix ms); returns how many. */
  prune(before: number, limit: number): Promise<number>;
}
