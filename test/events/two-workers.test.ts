/**
 * Many instances, one outbox: delivery workers of different holders draining the same
 * PostgreSQL outbox at once (each with its own pool, as two instances have) send every event
 * exactly once while all goes well, and each user's events in the order they were written.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore } from '../../src/db/types.js';
import { DeliveryWorker } from '../../src/events/worker.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { Receiver } from './receiver.js';

const quiet = { warn: () => undefined, error: () => undefined };

describePostgres('webhook delivery on many instances (PostgreSQL)', () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let stores: MetadataStore[];
  let receiver: Receiver;
  let url: string;

  beforeEach(async () => {
    schema = await freshSchema('hooks');
    stores = [];
    for (let i = 0; i < 3; i++) stores.push(await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 4 }));
    receiver = new Receiver();
    url = await receiver.start();
  });
  afterEach(async () => {
    await receiver.close();
    for (const s of stores) await s.close();
    await schema.drop();
  });

  it('three workers draining one outbox send each event once, in order per user', async () => {
    const now = Date.now();
    const written: Record<string, string[]> = {};
    for (let i = 0; i < 60; i++) {
      const userId = `user-${i % 3}`; // a claim of 4 holds two events of one user unless the queue rule holds
      const id = `msg_${i}`;
      (written[userId] ??= []).push(id);
      await stores[0]!.outbox.append({ id, type: 'file.created', userId, createdAt: now, payload: JSON.stringify({ id, user: userId }), urls: [url] });
    }
    receiver.jitterMs = 10; // deliveries overlap and finish out of order
    const workers = stores.map((outbox, i) => new DeliveryWorker({ outbox: outbox.outbox, secret: 'sixteen-chars-secret', allowPrivate: true, log: quiet, holder: `instance-${i}`, batch: 4 }));
    // Rounds until nothing is left: a worker whose claim found only locked rows stops early, so go again.
    for (let round = 0; round < 40 && receiver.received.length < 60; round++) await Promise.all(workers.map((w) => w.drain()));

    const got = receiver.received.map((r) => JSON.parse(r.body) as { id: string; user: string });
    expect(got).toHaveLength(60);
    // Recorded when the body arrived: a user's next event may not even be sent before the previous one was answered.
    expect(new Set(got.map((g) => g.id)).size).toBe(60);
    for (const [userId, ids] of Object.entries(written)) expect(got.filter((g) => g.user === userId).map((g) => g.id), userId).toEqual(ids);
    expect((await stores[1]!.outbox.list({ status: 'delivered', limit: 100 })).length).toBe(60);
  });
});
