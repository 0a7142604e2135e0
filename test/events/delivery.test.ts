/**
 * The delivery worker against a real receiver, on a SQLite outbox and a manual clock: the
 * SSRF guard (loopback refused unless allowed, every resolved address checked), redirects
 * never followed, the 10 s timeout (shortened here), and the retry schedule up to giving up
 * after 24 h, after which the user's next event goes out.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetadataStore, OutboxEvent } from '../../src/db/types.js';
import { openSqliteStore } from '../../src/db/sqlite.js';
import { isPrivateAddress } from '../../src/events/address-guard.js';
import { nextAttemptAt, retryDelayMs, RETRY_FOR_MS } from '../../src/events/backoff.js';
import { DeliveryWorker } from '../../src/events/worker.js';
import { ManualClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/app.js';
import { Receiver } from './receiver.js';

const quiet = { warn: () => undefined, error: () => undefined };
let n = 0;

describe('webhook delivery worker', () => {
  let dir: string;
  let store: MetadataStore;
  let receiver: Receiver;
  let url: string;
  const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
  const event = (userId = 'u1'): OutboxEvent => {
    const id = `msg_${++n}`;
    return { id, type: 'file.created', userId, createdAt: clock.now(), payload: JSON.stringify({ type: 'file.created', id, data: {} }), urls: [url] };
  };
  const worker = (over: Partial<ConstructorParameters<typeof DeliveryWorker>[0]> = {}) =>
    new DeliveryWorker({ outbox: store.outbox, secret: 'sixteen-chars-secret', allowPrivate: true, log: quiet, clock, ...over });

  beforeEach(async () => {
    dir = await tempDir('sl-delivery-');
    store = openSqliteStore(path.join(dir, 'm.sqlite'));
    receiver = new Receiver();
    url = await receiver.start();
  });
  afterEach(async () => {
    await receiver.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses loopback, private and link-local addresses unless WEBHOOK_ALLOW_PRIVATE', async () => {
    await store.outbox.append(event());
    await worker({ allowPrivate: false }).drain();
    expect(receiver.received).toHaveLength(0);
    const [d] = await store.outbox.list({ limit: 1 });
    expect(d).toMatchObject({ status: 'retrying', attempts: 1 });
    expect(d!.lastError).toMatch(/127\.0\.0\.1, a private or loopback address/);
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'nonsense']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
  });

  it('does not follow a redirect, and cuts a receiver that does not answer in time', async () => {
    receiver.status = 302;
    await store.outbox.append(event('u1'));
    await worker().drain();
    expect(receiver.received.map((r) => r.path)).toEqual(['/hook']);
    expect((await store.outbox.list({ limit: 1 }))[0]).toMatchObject({ status: 'retrying', lastError: 'HTTP 302' });

    receiver.status = 200;
    receiver.delayMs = 2000;
    await store.outbox.append(event('u2'));
    const started = performance.now();
    await worker({ timeoutMs: 200 }).drain();
    expect(performance.now() - started).toBeLessThan(1500);
    expect((await store.outbox.list({ limit: 1 }))[0]).toMatchObject({ status: 'retrying', lastError: 'no answer in 200 ms' });
  });

  it('a burst of one user’s events goes out in one drain, in order (not one per tick)', async () => {
    const burst = Array.from({ length: 5 }, () => event('u1'));
    for (const e of burst) await store.outbox.append(e);
    expect(await worker().drain()).toBe(5);
    expect(receiver.received.map((r) => JSON.parse(r.body).id)).toEqual(burst.map((e) => e.id));
  });

  it('retries after ~5 s, ~30 s, then doubling, gives up after 24 h, and then sends the user’s next event', async () => {
    expect([1, 2, 3, 4, 5].map((f) => retryDelayMs(f, () => 0.5))).toEqual([5_000, 30_000, 60_000, 120_000, 240_000]);
    expect(retryDelayMs(30, () => 0.5)).toBe(6 * 3600_000);
    expect(nextAttemptAt(0, 40, RETRY_FOR_MS)).toBeNull();
    expect(nextAttemptAt(0, 20, RETRY_FOR_MS - 1000)).toBe(RETRY_FOR_MS); // never past the 24 h

    receiver.status = 500;
    const first = event('u1');
    await store.outbox.append(first);
    const second = { ...event('u1'), createdAt: first.createdAt + 3600_000 }; // an hour younger: not given up with the first
    await store.outbox.append(second);
    const w = worker();
    const gaps: number[] = [];
    for (let i = 0; i < 60; i++) {
      await w.drain();
      const d = (await store.outbox.list({ status: 'retrying', limit: 5 })).find((r) => r.eventId === first.id);
      if (!d) break;
      gaps.push(d.nextAttemptAt - clock.now());
      expect(await w.drain()).toBe(0); // not due yet: nothing sent, and the second event waits
      clock.set(d.nextAttemptAt);
    }
    expect(gaps[0]).toBeGreaterThanOrEqual(4500);
    expect(gaps[0]).toBeLessThanOrEqual(5500);
    expect(gaps[1]).toBeGreaterThanOrEqual(27_000);
    expect(gaps[1]).toBeLessThanOrEqual(33_000);
    expect(gaps[2]).toBeGreaterThanOrEqual(54_000);
    const failed = await store.outbox.list({ status: 'failed', limit: 5 });
    expect(failed.map((d) => d.eventId)).toEqual([first.id]);
    expect(failed[0]!.lastAttemptAt! - first.createdAt).toBe(RETRY_FOR_MS);
    // The second event was never tried while the first held the queue; the drain that gave the
    // first up went on to it at once (the receiver still failing): its first attempt.
    const ids = receiver.received.map((r) => JSON.parse(r.body).id as string);
    expect(ids.slice(0, -1).every((id) => id === first.id)).toBe(true);
    expect(ids.at(-1)).toBe(second.id);
    const [held] = await store.outbox.list({ status: 'retrying', limit: 5 });
    expect([held?.eventId, held?.attempts]).toEqual([second.id, 1]);

    receiver.status = 200;
    clock.set(held!.nextAttemptAt);
    await w.drain();
    expect((await store.outbox.list({ status: 'delivered', limit: 5 })).map((d) => d.attempts)).toEqual([2]);
  });
});
