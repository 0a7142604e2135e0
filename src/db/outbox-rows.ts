/** The webhook_deliveries row both SQL engines store, and its mapping to the port's Delivery. */
import type { AttemptOutcome, Delivery, DeliveryStatus } from './outbox-types.js';

export interface DeliveryRow {
  seq: number;
  event_id: string;
  url: string;
  user_id: string;
  type: string;
  payload: string;
  created_at: number;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_error: string | null;
  delivered_at: number | null;
}

export const toDelivery = (r: DeliveryRow): Delivery => ({
  seq: Number(r.seq),
  eventId: r.event_id,
  url: r.url,
  userId: r.user_id,
  type: r.type,
  payload: r.payload,
  createdAt: r.created_at,
  status: r.status as DeliveryStatus,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastAttemptAt: r.last_attempt_at,
  lastError: r.last_error,
  deliveredAt: r.delivered_at,
});

/** The columns an attempt's outcome sets (the same UPDATE on both engines). */
export function outcomeColumns(result: AttemptOutcome): { status: DeliveryStatus; at: number; error: string | null; next: number | null; deliveredAt: number | null } {
  switch (result.outcome) {
    case 'delivered':
      return { status: 'delivered', at: result.at, error: null, next: null, deliveredAt: result.at };
    case 'retry':
      return { status: 'retrying', at: result.at, error: result.error.slice(0, 500), next: result.nextAttemptAt, deliveredAt: null };
    case 'failed':
      return { status: 'failed', at: result.at, error: result.error.slice(0, 500), next: null, deliveredAt: null };
  }
}

/** Unsettled: a delivery that still holds its queue. */
export const UNSETTLED = "('pending', 'retrying')";
