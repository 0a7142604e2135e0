/**
 * The delivery worker: every instance runs one. Each round claims due deliveries from the
 * outbox under a lease (the store hands out only the head of each user's queue per URL, and
 * never a row another live lease holds), POSTs them signed per Standard Webhooks, and settles
 * each: delivered, retried later (backoff.ts), or failed after 24 h. A worker that dies
 * mid-delivery leaves a lease that lapses, and another instance (or this one, restarted)
 * sends the event again: delivery is at least once, and receivers dedupe by webhook-id.
 * Rounds run on a timer, apart from requests, so a slow receiver never slows a request.
 */
import { Webhook } from 'standardwebhooks';
import type { Delivery, OutboxStore } from '../db/types.js';
import { INSTANCE_ID } from '../ops/housekeeping.js';
import { systemClock, type Clock } from '../util/clock.js';
import { nextAttemptAt } from './backoff.js';
import { sendWebhook, type SendResult } from './sender.js';

/** Settled rows are kept this long for GET /v1/admin/events, then pruned. */
export const KEEP_SETTLED_MS = 7 * 24 * 3600_000;

export interface DeliveryWorkerOptions {
  outbox: OutboxStore;
  secret: string;
  allowPrivate: boolean;
  log: { warn(obj: unknown, msg: string): void; error(obj: unknown, msg: string): void };
  clock?: Clock;
  /** Default INSTANCE_ID; tests give two workers in one process two names. */
  holder?: string;
  /** No answer within this: a failure (10 s). */
  timeoutMs?: number;
  /** Time between rounds when idle (1 s). */
  everyMs?: number;
  /** Deliveries claimed (and sent side by side) per round (32). */
  batch?: number;
}

export class DeliveryWorker {
  private readonly clock: Clock;
  private readonly holder: string;
  private readonly timeoutMs: number;
  private readonly signer: Webhook;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | null = null;
  private lastPrune = 0;

  constructor(private readonly opts: DeliveryWorkerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.holder = opts.holder ?? INSTANCE_ID;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    // The secret's UTF-8 bytes are the HMAC key (format 'raw': no whsec_/base64 wrapping).
    this.signer = new Webhook(Buffer.from(opts.secret, 'utf8'), { format: 'raw' });
  }

  start(): void {
    this.timer ??= setInterval(() => void this.drain(), this.opts.everyMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the timer and waits for the round in flight (its deliveries are settled). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Rounds until nothing more is due; never throws (failures are logged). Tests call it directly. */
  async drain(): Promise<number> {
    if (this.running) return this.running;
    this.running = (async () => {
      let sent = 0;
      try {
        // Until a round finds nothing due: only the head of each user's queue is due (in order
        // per user), so a delivered head makes the next event due at once. Stopping after a
        // short round held a user's burst to one event per tick (1 s). A failed delivery is
        // due again seconds later at the soonest (backoff.ts), so the loop ends.
        for (;;) {
          const n = await this.round();
          sent += n;
          if (n === 0) break;
        }
        await this.prune();
      } catch (err) {
        this.opts.log.error({ err }, 'webhook delivery round failed');
      }
      return sent;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** One claim and its deliveries; how many were claimed. */
  private async round(): Promise<number> {
    const now = this.clock.now();
    // The lease outlives a delivery's timeout: the row is never handed to another instance while its POST may still land.
    const claimed = await this.opts.outbox.claimDue(this.holder, now, now + this.timeoutMs + 20_000, this.opts.batch ?? 32);
    await Promise.all(claimed.map((d) => this.deliver(d)));
    return claimed.length;
  }

  private async deliver(d: Delivery): Promise<void> {
    const at = this.clock.now();
    const headers = {
      'webhook-id': d.eventId,
      'webhook-timestamp': String(Math.floor(at / 1000)),
      'webhook-signature': this.signer.sign(d.eventId, new Date(at), d.payload),
    };
    const result: SendResult = await sendWebhook(d.url, headers, d.payload, { timeoutMs: this.timeoutMs, allowPrivate: this.opts.allowPrivate });
    const done = this.clock.now();
    if (result.ok) {
      await this.opts.outbox.settle(d.seq, this.holder, { outcome: 'delivered', at: done });
      return;
    }
    const next = nextAttemptAt(d.createdAt, d.attempts + 1, done);
    if (next === null) {
      this.opts.log.warn({ event: d.eventId, url: d.url, error: result.error }, 'webhook delivery failed for 24 h: given up');
      await this.opts.outbox.settle(d.seq, this.holder, { outcome: 'failed', at: done, error: result.error });
    } else {
      await this.opts.outbox.settle(d.seq, this.holder, { outcome: 'retry', at: done, error: result.error, nextAttemptAt: next });
    }
  }

  private async prune(): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastPrune < 10 * 60_000) return;
    this.lastPrune = now;
    await this.opts.outbox.prune(now - KEEP_SETTLED_MS, 10_000);
  }
}
