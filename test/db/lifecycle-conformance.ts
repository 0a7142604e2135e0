/**
 * ping and close: the health check's probe and the shutdown step. Part of metadataConformance.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore } from '../../src/db/types.js';

export function lifecycleConformance(store: () => MetadataStore): void {
  describe('ping and close', () => {
    it('ping answers while open; after close, ping and every sub-store reject; closing again is harmless', async () => {
      const s = store();
      await expect(s.ping()).resolves.toBeUndefined();
      await s.close();
      // A closed store must fail loudly, never answer "nothing there" (null, 0, false).
      const calls: [string, () => Promise<unknown>][] = [
        ['ping', () => s.ping()],
        ['files.getFile', () => s.files.getFile('storage/u/k')],
        ['files.usage', () => s.files.usage('u')],
        ['uploads.getUpload', () => s.uploads.getUpload('x')],
        ['uploads.countUploads', () => s.uploads.countUploads('open')],
        ['users.getUserById', () => s.users.getUserById('x')],
        ['tokens.checkToken', () => s.tokens.checkToken('jti', 'u')],
        ['batches.getBatch', () => s.batches.getBatch('h', 1)],
        ['leases.tryAcquire', () => s.leases.tryAcquire('hk', 'A', 1000, 1)],
        ['leases.holder', () => s.leases.holder('hk', 1)],
      ];
      for (const [name, call] of calls) await expect(call(), name).rejects.toThrow();
      await s.close();
    });
  });
}
