/**
 * The webhook outbox contract (OutboxStore, and the optional event of the store methods that
 * change files, uploads and users): an event is written with its change in one transaction,
 * or not at all; a claim takes only the head of each (user, url) queue, never a row another
 * holder leased; a settle counts only for the lease's holder. Part of metadataConformance.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore, OutboxEvent, QuotaCheck } from '../../src/db/types.js';
import { QuotaExceeded, WrongState } from '../../src/errors/index.js';
import { expectFailure, fileOf, uploadOf } from './fixtures.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
let n = 0;
const eventOf = (userId: string, urls = ['http://a.example/hook'], type = 'file.created'): OutboxEvent => {
  const id = `msg_${(++n).toString().padStart(6, '0')}_${Math.random().toString(36).slice(2)}`;
  return { id, type, userId, createdAt: T0, payload: JSON.stringify({ type, id }), urls };
};
const quota = (userId: string, bytes = 1000): QuotaCheck => ({ userId, defaultQuotaBytes: bytes });
const ids = (ds: { eventId: string }[]) => ds.map((d) => d.eventId);

export function outboxConformance(open: () => MetadataStore): void {
  describe('webhook outbox', () => {
    it('writes an event with its change and none when the change does not happen', async () => {
      const store = open();
      const created = eventOf('u1', ['http://a.example/1', 'http://b.example/2']);
      await store.files.insertFile(fileOf('u1', '', 10), quota('u1'), created);
      await expectFailure(store.files.insertFile(fileOf('u1', '', 5000), quota('u1'), eventOf('u1')), QuotaExceeded, 'quota_exceeded');
      expect(await store.files.deleteFile('storage/u1/nothing_here', eventOf('u1'))).toBeNull();
      const f = fileOf('u1', '', 1);
      await store.files.insertFile(f, quota('u1'));
      const deleted = eventOf('u1', undefined, 'file.deleted');
      expect(await store.files.deleteFile(f.key, deleted)).not.toBeNull();

      // A completion that lost its lease writes nothing; the holder's writes its event.
      const u = uploadOf('u1', 10);
      await store.uploads.createUploads([u], quota('u1'));
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k_a', T0, T0 + 60_000)).toBe(true);
      expect(await store.uploads.finishAssembly(u.id, { ...fileOf('u1', '', 10), key: 'storage/u1/other_b' }, eventOf('u1'))).toBe(false);
      const finished = eventOf('u1');
      expect(await store.uploads.finishAssembly(u.id, { ...fileOf('u1', '', 10), key: 'storage/u1/k_a' }, finished)).toBe(true);
      const gone = uploadOf('u1', 10, { updatedAt: 1 });
      await store.uploads.createUploads([gone], quota('u1'));
      const expired = eventOf('u1', undefined, 'upload.expired');
      expect((await store.uploads.deleteUpload(gone.id, { states: ['assembling'] }, eventOf('u1'))).outcome).toBe('kept');
      expect((await store.uploads.deleteUpload(gone.id, { states: ['open'] }, expired)).outcome).toBe('deleted');

      const user = { id: 'user-x', username: 'Xavier', email: null, passwordHash: 'h', role: 'operator' as const, createdAt: new Date(T0).toISOString() };
      const userCreated = eventOf('user-x', undefined, 'user.created');
      await store.users.createUser(user, userCreated);
      await expectFailure(store.users.createUser({ ...user, id: 'user-y' }, eventOf('user-y')), WrongState, 'username_taken');
      const disabled = eventOf('user-x', undefined, 'user.disabled');
      expect(await store.users.updateUser('user-x', { isActive: false }, disabled)).toMatchObject({ isActive: false });
      expect(await store.users.updateUser('nobody', { isActive: false }, eventOf('nobody'))).toBeNull();
      const removed = eventOf('user-x', undefined, 'user.disabled');
      expect(await store.users.deleteUser('user-x', removed)).toBe(true);
      expect(await store.users.deleteUser('user-x', eventOf('user-x'))).toBe(false);

      const all = await store.outbox.list({ limit: 100 });
      expect(ids(all).reverse()).toEqual([created.id, created.id, deleted.id, finished.id, expired.id, userCreated.id, disabled.id, removed.id]);
      expect(all.map((d) => d.url).slice(-2).sort()).toEqual(['http://a.example/1', 'http://b.example/2']);
      expect(all.every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true);
      expect(all[all.length - 1]).toMatchObject({ userId: 'u1', type: 'file.created', payload: created.payload, createdAt: T0, nextAttemptAt: T0 });
    });

    it('claims the head of each (user, url) queue once, in order, and a settle counts only for the holder', async () => {
      const store = open();
      const [a1, a2, b1] = [eventOf('ua'), eventOf('ua'), eventOf('ub')];
      for (const e of [a1, a2, b1]) await store.outbox.append(e);
      const now = T0 + 1;
      const first = await store.outbox.claimDue('h1', now, now + 10_000, 10);
      expect(ids(first)).toEqual([a1.id, b1.id]); // a2 waits for a1
      expect(await store.outbox.claimDue('h2', now, now + 10_000, 10)).toEqual([]); // leased, and a2 still waits

      // a1 fails: its retry is due later, and a2 keeps waiting behind it.
      expect(await store.outbox.settle(first[0]!.seq, 'h2', { outcome: 'delivered', at: now })).toBe(false);
      expect(await store.outbox.settle(first[0]!.seq, 'h1', { outcome: 'retry', at: now, error: 'HTTP 500', nextAttemptAt: now + 5000 })).toBe(true);
      expect(await store.outbox.settle(first[1]!.seq, 'h1', { outcome: 'delivered', at: now })).toBe(true);
      expect(await store.outbox.claimDue('h2', now + 4999, now + 20_000, 10)).toEqual([]);
      const retry = await store.outbox.claimDue('h2', now + 5000, now + 20_000, 10);
      expect(retry.map((d) => [d.eventId, d.attempts, d.status, d.lastError])).toEqual([[a1.id, 1, 'retrying', 'HTTP 500']]);

      // h2's lease lapses: h3 takes the row over, and h2's late settle is refused.
      const taken = await store.outbox.claimDue('h3', now + 20_000, now + 30_000, 10);
      expect(ids(taken)).toEqual([a1.id]);
      expect(await store.outbox.settle(taken[0]!.seq, 'h2', { outcome: 'delivered', at: now })).toBe(false);
      expect(await store.outbox.settle(taken[0]!.seq, 'h3', { outcome: 'failed', at: now + 20_001, error: 'gave up' })).toBe(true);
      expect(ids(await store.outbox.claimDue('h3', now + 20_002, now + 30_000, 10))).toEqual([a2.id]); // a failed event no longer holds the queue

      expect(ids(await store.outbox.list({ status: 'failed', limit: 10 }))).toEqual([a1.id]);
      expect(ids(await store.outbox.list({ status: 'delivered', limit: 10 }))).toEqual([b1.id]);
      const page = await store.outbox.list({ limit: 2 });
      expect(ids(page)).toEqual([b1.id, a2.id]);
      expect(ids(await store.outbox.list({ limit: 2, beforeSeq: page[1]!.seq }))).toEqual([a1.id]);
      expect(await store.outbox.prune(now + 20_001, 10)).toBe(1); // b1 (settled at now); a1 settled at now + 20 001
      expect(ids(await store.outbox.list({ limit: 10 }))).toEqual([a2.id, a1.id]);
    });
  });
}
