/** The server's delivery worker, when WEBHOOK_URLS names receivers (every instance runs one). */
import type { AppContext } from '../context.js';
import { systemClock, type Clock } from '../util/clock.js';
import { DeliveryWorker, type DeliveryWorkerOptions } from './worker.js';

export function startDeliveries(ctx: Pick<AppContext, 'config' | 'store'>, log: DeliveryWorkerOptions['log'], clock: Clock = systemClock): DeliveryWorker | null {
  const w = ctx.config.webhooks;
  // With WEBHOOK_URLS emptied nothing new is written, and rows left from before wait until
  // webhooks are configured again.
  if (w.urls.length === 0 || !w.secret) return null;
  const worker = new DeliveryWorker({ outbox: ctx.store.outbox, secret: w.secret, allowPrivate: w.allowPrivate, log, clock });
  worker.start();
  void worker.drain(); // what a previous run left pending goes out at once
  return worker;
}
