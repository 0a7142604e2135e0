/**
 * Sizes past 4 GiB and millisecond times past 2^31 (a 32-bit INTEGER column in PostgreSQL
 * overflows; a driver that returns 64-bit integers as strings breaks equality): every such
 * column and sum must come back as the same JavaScript number. Part of metadataConformance.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MetadataStore } from '../../src/db/types.js';
import { QuotaExceeded } from '../../src/errors/index.js';
import { expectFailure, fileOf, uploadOf } from './fixtures.js';

const TiB = 2 ** 40;
/** Unix ms in 2039: past 2^41. */
const LATE = 2 ** 41 + 123;

export function bigintConformance(store: () => MetadataStore): void {
  describe('BIGINT: sizes, sums and times past 2^32 round-trip exactly', () => {
    it('files of 5 TiB, their sums in usage and listings, an upload reserving 3 TiB at times past 2^41 ms', async () => {
      const s = store();
      const q = { userId: 'big', defaultQuotaBytes: 2 ** 50 };
      const [a, b] = [fileOf('big', '', 5 * TiB), fileOf('big', 'x', 5 * TiB + 1)];
      await s.files.insertFile(a, q);
      await s.files.insertFile(b, q);
      expect(await s.files.getFile(a.key)).toEqual(a);
      expect(await s.files.getFileById(b.id)).toEqual(b);
      const partSize = 4 * 2 ** 30 + 5; // one part past 2^32 bytes
      const u = uploadOf('big', 3 * TiB + 7, { partSize, partCount: Math.ceil((3 * TiB + 7) / partSize), createdAt: LATE, updatedAt: LATE + 1 });
      await s.uploads.createUploads([u], q);
      expect(await s.uploads.getUpload(u.id)).toEqual(u);
      expect(await s.files.usage('big')).toEqual({ usedBytes: 10 * TiB + 1, reservedBytes: 3 * TiB + 7, fileCount: 2, openUploads: 1 });
      expect(await s.files.listFiles('big', { recursive: true, limit: 10 })).toMatchObject({ totalCount: 2, totalSize: 10 * TiB + 1 });
      expect(await s.files.listFiles('big', { folder: 'x', recursive: true, limit: 10 })).toMatchObject({ totalSize: 5 * TiB + 1 });
      expect((await s.uploads.staleUploads(LATE + 2, 10)).map((x) => x.id)).toEqual([u.id]);
      expect(await s.uploads.staleUploads(LATE + 1, 10)).toEqual([]);
      // A quota of 2^50 bytes leaves exactly 2^50 − (13 TiB + 8) free: one byte more is refused.
      await expectFailure(s.files.insertFile(fileOf('big', '', 2 ** 50 - 13 * TiB - 7), q), QuotaExceeded, 'quota_exceeded');
      await s.files.insertFile(fileOf('big', '', 2 ** 50 - 13 * TiB - 8), q);
      expect((await s.files.usage('big')).usedBytes + (await s.files.usage('big')).reservedBytes).toBe(2 ** 50);
    });

    it("a user's quota override, a batch's total size and a lease's expiry past 2^32", async () => {
      const s = store();
      await s.users.createUser({ id: 'bq', username: 'bq', email: null, passwordHash: 'h', role: 'operator', createdAt: new Date().toISOString() });
      expect(await s.users.updateUser('bq', { quotaBytes: 2 ** 50 + 3 })).toMatchObject({ quotaBytes: 2 ** 50 + 3 });
      expect((await s.users.getUserById('bq'))!.quotaBytes).toBe(2 ** 50 + 3);
      const batch = { tokenHash: randomBytes(32).toString('hex'), userId: 'bq', name: 'b.zip', compression: 'store' as const, fileIds: [randomBytes(16).toString('hex')], fileCount: 1, totalSize: 5 * TiB, createdAt: 2 ** 32 + 1, expiresAt: 2 ** 32 + 901 };
      await s.batches.createBatch(batch, 5);
      expect(await s.batches.getBatch(batch.tokenHash, 2 ** 32 + 2)).toEqual(batch);
      expect(await s.leases.tryAcquire('big', 'A', 2 ** 33, LATE)).toBe(true);
      expect(await s.leases.holder('big', LATE + 2 ** 33 - 1)).toBe('A');
      expect(await s.leases.holder('big', LATE + 2 ** 33)).toBeNull();
    });
  });
}
