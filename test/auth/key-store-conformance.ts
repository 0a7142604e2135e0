/**
 * The KeyStore contract (src/auth/key-store.ts), for every implementation: files today, a
 * database in issue 13. A store passes when every method keeps its promise alone and when
 * instances race on one store: run from a *.test.ts with a factory that opens an empty store
 * and names an opener module, so task threads can open the same store themselves.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/auth/keyring.js';
import { keyOrder, type KeyStore, type StoredKey } from '../../src/auth/key-store.js';
import { runTask, values } from './parallel-tasks.js';

export interface KeyStoreHarness {
  /** An empty store. */
  store: KeyStore;
  /** How a task thread opens the same store: a module exporting `openKeyStore(options)`. */
  opener: { module: string; options: unknown };
  cleanup(): Promise<void>;
}

const KEY_RING_TASK = new URL('./tasks/key-ring.mjs', import.meta.url);
const THREADS = 4;

/** A record as the ring would store it; the store never looks inside the JWK. */
function record(createdAt = 1_700_000_000, extra: Partial<StoredKey> = {}): StoredKey {
  const kid = randomBytes(32).toString('base64url');
  return { kid, alg: 'ES256', createdAt, retiredAt: null, privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid }, ...extra };
}

const active = (keys: StoredKey[]) => keys.filter((k) => k.retiredAt === null);
const greatest = (keys: StoredKey[]) => [...keys].sort(keyOrder).at(-1)!;

export function keyStoreConformance(name: string, open: () => Promise<KeyStoreHarness>): void {
  describe(`KeyStore conformance: ${name}`, () => {
    let h: KeyStoreHarness;
    let store: KeyStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => h.cleanup());

    it('list: an empty store lists nothing; every added key comes back whole, retired or not', async () => {
      expect(await store.list()).toEqual([]);
      const keys = Array.from({ length: 12 }, (_, i) => record(1_700_000_000 + i, { alg: i % 2 ? 'RS256' : 'EdDSA' }));
      for (const k of keys) expect(await store.add(k)).toBe('added');
      await store.retire(keys[3]!.kid, 1_800_000_000);
      const listed = await store.list();
      expect(listed).toHaveLength(12);
      const byKid = new Map(listed.map((k) => [k.kid, k]));
      for (const k of keys) expect(byKid.get(k.kid)).toEqual(k.kid === keys[3]!.kid ? { ...k, retiredAt: 1_800_000_000 } : k);
    });

    it('add is create-only: a kid already stored gives "exists" and the stored key stays as it was', async () => {
      const key = record();
      expect(await store.add(key)).toBe('added');
      expect(await store.add({ ...key, createdAt: key.createdAt + 99, privateJwk: { kty: 'EC', d: 'other' } })).toBe('exists');
      await store.retire(key.kid, key.createdAt + 5);
      expect(await store.add(key)).toBe('exists'); // not a way to un-retire either
      expect(await store.list()).toEqual([{ ...key, retiredAt: key.createdAt + 5 }]);
    });

    it('retire: sets the time once; a second retirement and an unknown kid change nothing', async () => {
      const [a, b] = [record(), record()];
      await store.add(a);
      await store.add(b);
      expect(await store.retire(a.kid, 1_700_000_100)).toBe('retired');
      expect(await store.retire(a.kid, 1_700_000_999)).toBe('already');
      expect(await store.retire(record().kid, 1_700_000_100)).toBe('unknown');
      const listed = new Map((await store.list()).map((k) => [k.kid, k.retiredAt]));
      expect(listed).toEqual(new Map([[a.kid, 1_700_000_100], [b.kid, null]]));
    });

    it('remove: forgets one key; removing it again, or a kid never stored, answers false', async () => {
      const [a, b] = [record(), record()];
      await store.add(a);
      await store.add(b);
      expect(await store.remove(a.kid)).toBe(true);
      expect(await store.remove(a.kid)).toBe(false);
      expect(await store.remove(record().kid)).toBe(false);
      expect(await store.retire(a.kid, 1)).toBe('unknown');
      expect((await store.list()).map((k) => k.kid)).toEqual([b.kid]);
      expect(await store.add(a)).toBe('added'); // a removed kid is free again
    });

    it('a kid that is not base64url is a programmer error (TypeError), whatever the method', async () => {
      for (const kid of ['../escape', 'a/b', '', 'x'.repeat(129), 'a b', 'ké']) {
        await expect(store.add(record(1, { kid }))).rejects.toMatchObject({ name: 'TypeError' });
        await expect(store.retire(kid, 1)).rejects.toMatchObject({ name: 'TypeError' });
        await expect(store.remove(kid)).rejects.toMatchObject({ name: 'TypeError' });
      }
      expect(await store.list()).toEqual([]);
    });

    describe('instances racing on one store (worker threads)', () => {
      it('the same key added by every instance at once is stored once: one "added", the rest "exists"', async () => {
        for (let round = 0; round < 5; round++) {
          const key = record(1_700_000_000 + round);
          const outcomes = values<string[]>(await runTask(KEY_RING_TASK, Array(THREADS).fill({ opener: h.opener, op: 'add', key })));
          expect(outcomes.flat().sort()).toEqual(['added', ...Array<string>(THREADS - 1).fill('exists')]);
          expect((await store.list()).filter((k) => k.kid === key.kid)).toEqual([key]);
        }
      });

      it('rotations at once lose no key and leave exactly one active key: the greatest', async () => {
        const rounds = 3;
        const first = (await KeyRing.open({ store, alg: 'ES256', retentionSeconds: 3600 })).signingKey().kid;
        const reported = values<string[]>(await runTask(KEY_RING_TASK, Array(THREADS).fill({ opener: h.opener, op: 'rotate', rounds })));
        const keys = await store.list();
        expect(keys).toHaveLength(1 + THREADS * rounds);
        expect(new Set(keys.map((k) => k.kid)).size).toBe(keys.length);
        expect(keys.map((k) => k.kid)).toContain(first);
        expect(active(keys)).toEqual([greatest(keys)]);
        // Each rotation reported a kid that was stored, and the last round's reports are no
        // older than the keys of the rounds before.
        for (const kid of reported.flat()) expect(keys.map((k) => k.kid)).toContain(kid);
        expect(reported.map((r) => r.at(-1))).toContain(greatest(keys).kid);
      });

      it('instances starting at once on an empty store agree on one signer by their next refresh', async () => {
        const kids = values<string[]>(await runTask(KEY_RING_TASK, Array(THREADS).fill({ opener: h.opener, op: 'open' })));
        const keys = await store.list();
        expect(keys.length).toBeGreaterThanOrEqual(1);
        expect(keys.length).toBeLessThanOrEqual(THREADS);
        expect(active(keys)).toEqual([greatest(keys)]);
        // Right after opening, each signs with a key it stored or saw; after one reload, all with the same.
        for (const [atOpen] of kids) expect(keys.map((k) => k.kid)).toContain(atOpen);
        expect(new Set(kids.map(([, afterReload]) => afterReload))).toEqual(new Set([greatest(keys).kid]));
      });
    });
  });
}
