/**
 * The LeaseStore contract (store.leases): named locks with an expiry, driven by the caller's
 * clock. Part of metadataConformance; the race between two connections is in
 * parallel-conformance.ts.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore } from '../../src/db/types.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');

export function leaseConformance(store: () => MetadataStore): void {
  describe('leases', () => {
    it('acquire a free lease; another holder is refused while it is live; the holder renews it', async () => {
      const { leases } = store();
      expect(await leases.holder('hk', T0)).toBeNull();
      expect(await leases.tryAcquire('hk', 'A', 1000, T0)).toBe(true);
      expect(await leases.holder('hk', T0)).toBe('A');
      expect(await leases.tryAcquire('hk', 'B', 1000, T0 + 999)).toBe(false);
      expect(await leases.holder('hk', T0 + 999)).toBe('A');
      // A's renewal at T0 + 900 moves the expiry to T0 + 1900: B is still refused at T0 + 1500.
      expect(await leases.tryAcquire('hk', 'A', 1000, T0 + 900)).toBe(true);
      expect(await leases.tryAcquire('hk', 'B', 1000, T0 + 1500)).toBe(false);
      expect(await leases.holder('hk', T0 + 1899)).toBe('A');
      // Names are independent.
      expect(await leases.tryAcquire('other', 'B', 1000, T0)).toBe(true);
      expect(await leases.holder('other', T0)).toBe('B');
    });

    it('an expired lease is free (at exactly its expiry) and goes to whoever asks first', async () => {
      const { leases } = store();
      await leases.tryAcquire('hk', 'A', 1000, T0);
      expect(await leases.holder('hk', T0 + 1000)).toBeNull();
      expect(await leases.tryAcquire('hk', 'B', 5000, T0 + 1000)).toBe(true);
      expect(await leases.holder('hk', T0 + 1000)).toBe('B');
      // The old holder coming back finds it taken…
      expect(await leases.tryAcquire('hk', 'A', 1000, T0 + 2000)).toBe(false);
      // …and re-acquires it once B's lapses.
      expect(await leases.tryAcquire('hk', 'A', 1000, T0 + 6000)).toBe(true);
      expect(await leases.holder('hk', T0 + 6000)).toBe('A');
    });

    it('release frees the lease for others at once, and only the holder can release it', async () => {
      const { leases } = store();
      await leases.tryAcquire('hk', 'A', 60_000, T0);
      await leases.release('hk', 'B'); // not B's: nothing happens
      expect(await leases.holder('hk', T0 + 1)).toBe('A');
      expect(await leases.tryAcquire('hk', 'B', 60_000, T0 + 1)).toBe(false);
      await leases.release('hk', 'A');
      expect(await leases.holder('hk', T0 + 2)).toBeNull();
      expect(await leases.tryAcquire('hk', 'B', 60_000, T0 + 2)).toBe(true);
      // A lapsed lease that B took stays B's when A, late, releases "its" lease.
      await leases.release('hk', 'A');
      expect(await leases.holder('hk', T0 + 3)).toBe('B');
      await leases.release('never-taken', 'A'); // harmless
    });

    it('a ttl that is not positive is a programmer error, not a lease', async () => {
      const { leases } = store();
      await expect(leases.tryAcquire('hk', 'A', 0, T0)).rejects.toBeInstanceOf(RangeError);
      expect(await leases.holder('hk', T0 - 1)).toBeNull();
    });
  });
}
