/**
 * The MetadataStore contract for the per-user limits and the paged housekeeping queries
 * (F-07, F-08, F-13): part of the conformance suite, called from metadataConformance.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BatchRecord, MetadataStore, QuotaCheck } from '../../src/db/types.js';
import { LimitReached, QuotaExceeded } from '../../src/errors/index.js';
import { expectFailure, fileOf, uploadOf } from './fixtures.js';

const capped = (userId: string, over: Partial<QuotaCheck> = {}): QuotaCheck => ({ userId, defaultQuotaBytes: 1e9, ...over });

function batchOf(userId: string | null, fileIds: string[], createdAt: number, ttl = 900): BatchRecord {
  return { tokenHash: randomBytes(32).toString('hex'), userId, name: 'b.zip', compression: 'store', fileIds, fileCount: fileIds.length, totalSize: 0, createdAt, expiresAt: createdAt + ttl };
}

export function limitsConformance(store: () => MetadataStore): void {
  describe('F-07 per-user caps in the quota ledger', () => {
    it('open uploads are counted with the reservation; past maxOpenUploads → 429 too_many_uploads, none created', async () => {
      const s = store();
      const q = capped('u1', { maxOpenUploads: 3 });
      const [a, b] = [uploadOf('u1', 1), uploadOf('u1', 1)];
      await s.uploads.createUploads([a, b], q);
      expect(await s.files.usage('u1')).toMatchObject({ openUploads: 2, reservedBytes: 2 });
      const [c, d] = [uploadOf('u1', 1), uploadOf('u1', 1)];
      await expectFailure(s.uploads.createUploads([c, d], q), LimitReached, 'too_many_uploads');
      expect(await s.uploads.getUpload(c.id)).toBeNull();
      await s.uploads.createUploads([c], q); // exactly at the cap
      await expectFailure(s.uploads.createUploads([d], q), LimitReached, 'too_many_uploads');

      // Completing, aborting (deleteUpload) each free one slot; a completed upload holds none.
      const file = fileOf('u1', '', 1);
      await s.uploads.beginAssembly(a.id, file.key, Date.now(), Date.now() + 60_000);
      expect(await s.files.usage('u1')).toMatchObject({ openUploads: 3 }); // assembling still holds it
      await s.uploads.finishAssembly(a.id, file);
      await s.uploads.deleteUpload(b.id);
      await s.uploads.deleteUpload(a.id);
      expect(await s.files.usage('u1')).toMatchObject({ openUploads: 1, fileCount: 1, reservedBytes: 1, usedBytes: 1 });
      await s.uploads.createUploads([d, uploadOf('u1', 1)], q);
    });

    it('zero-byte uploads count too: the cap holds at zero quota use', async () => {
      const s = store();
      const q = capped('u0', { maxOpenUploads: 10 });
      await s.uploads.createUploads(Array.from({ length: 10 }, () => uploadOf('u0', 0)), q);
      await expectFailure(s.uploads.createUploads([uploadOf('u0', 0)], q), LimitReached, 'too_many_uploads');
      expect(await s.files.usage('u0')).toEqual({ usedBytes: 0, reservedBytes: 0, fileCount: 0, openUploads: 10 });
    });

    it('maxFiles counts stored files plus open uploads → 413 file_count_exceeded (init and one-request insert); 0 means no cap', async () => {
      const s = store();
      const q = capped('u2', { maxFiles: 3 });
      await s.files.insertFile(fileOf('u2', '', 0), q);
      await s.uploads.createUploads([uploadOf('u2', 0)], q);
      await expectFailure(s.uploads.createUploads([uploadOf('u2', 0), uploadOf('u2', 0)], q), QuotaExceeded, 'file_count_exceeded');
      await s.files.insertFile(fileOf('u2', '', 0), q); // 2 files + 1 open = 3
      await expectFailure(s.files.insertFile(fileOf('u2', '', 0), q), QuotaExceeded, 'file_count_exceeded');
      expect(await s.files.usage('u2')).toMatchObject({ fileCount: 2, openUploads: 1 });
      await s.files.insertFile(fileOf('u2', '', 0), capped('u2', { maxFiles: 0 }));
      expect(await s.files.usage('u2')).toMatchObject({ fileCount: 3 });
    });

    it('quota_exceeded says how many bytes are free and how many were asked', async () => {
      const s = store();
      await s.files.insertFile(fileOf('u3', '', 600), { userId: 'u3', defaultQuotaBytes: 1000 });
      const refused = s.uploads.createUploads([uploadOf('u3', 401)], { userId: 'u3', defaultQuotaBytes: 1000 });
      await expect(refused).rejects.toBeInstanceOf(QuotaExceeded);
      await expect(refused).rejects.toMatchObject({
        code: 'quota_exceeded',
        message: expect.stringMatching(/400 bytes free, 401 asked/),
      });
    });
  });

  describe('paged housekeeping queries (F-07, F-13)', () => {
    it('staleUploads pages oldest first by keyset and never returns one being assembled; countUploads counts in SQL', async () => {
      const s = store();
      const ups = Array.from({ length: 7 }, (_, i) => uploadOf('p1', 1, { updatedAt: 1000 + Math.floor(i / 2) }));
      await s.uploads.createUploads(ups, capped('p1'));
      await s.uploads.beginAssembly(ups[3]!.id, 'storage/p1/k', 1001, 61_001); // sets updated_at 1001, assembling
      const seen: string[] = [];
      let after: { updatedAt: number; id: string } | undefined;
      for (;;) {
        const page = await s.uploads.staleUploads(5000, 2, after);
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...page.map((u) => u.id));
        after = { updatedAt: page[page.length - 1]!.updatedAt, id: page[page.length - 1]!.id };
      }
      expect(new Set(seen)).toEqual(new Set(ups.filter((_, i) => i !== 3).map((u) => u.id)));
      expect(seen).toHaveLength(6);
      expect(await s.uploads.countUploads('open')).toBe(6);
      expect(await s.uploads.countUploads('assembling')).toBe(1);
      expect(await s.uploads.expiredAssemblies(61_000, 10)).toEqual([]);
      expect((await s.uploads.expiredAssemblies(61_001, 10)).map((u) => u.id)).toEqual([ups[3]!.id]);
    });

    it('findFilesByIds answers many ids at once (across look-up chunks), getFileById, longKeys by byte length', async () => {
      const s = store();
      const made = [];
      for (let i = 0; i < 1203; i++) made.push(fileOf('f1', i % 2 ? 'x'.repeat(200) : '', 1));
      for (const f of made) await s.files.insertFile(f, capped('f1'));
      const asked = [...made.map((f) => f.id), '0'.repeat(32), ...made.slice(0, 3).map((f) => f.id)];
      const found = await s.files.findFilesByIds(asked);
      expect(found).toHaveLength(made.length);
      expect(new Set(found.map((f) => f.key))).toEqual(new Set(made.map((f) => f.key)));
      expect(await s.files.findFilesByIds([])).toEqual([]);
      expect(await s.files.getFileById(made[5]!.id)).toEqual(made[5]);
      expect(await s.files.getFileById('0'.repeat(32))).toBeNull();

      const long = fileOf('f1', '数'.repeat(90), 1); // 270 bytes of folder, 90 characters
      await s.files.insertFile(long, capped('f1'));
      const pages: string[][] = [];
      let after: string | null = null;
      for (;;) {
        const page = await s.files.longKeys(256, after, 250);
        if (page.length === 0) break;
        pages.push(page);
        after = page[page.length - 1]!;
      }
      const all = pages.flat();
      expect(all).toContain(long.key);
      expect(all).toHaveLength(made.filter((f) => Buffer.byteLength(f.key) >= 256).length + 1);
      expect([...all].sort()).toEqual(all);
    });
  });

  describe('F-08 batch records', () => {
    it('keep file ids, not keys; a user holds at most maxOpen unexpired batches (429 too_many_batches); expired ones do not count', async () => {
      const s = store();
      const ids = Array.from({ length: 3 }, () => randomBytes(16).toString('hex'));
      const first = batchOf('b1', ids, 10_000);
      await s.batches.createBatch(first, 2);
      expect(await s.batches.getBatch(first.tokenHash, 10_001)).toEqual(first);
      await s.batches.createBatch(batchOf('b1', ids, 10_000), 2);
      await expectFailure(s.batches.createBatch(batchOf('b1', ids, 10_000), 2), LimitReached, 'too_many_batches');
      expect(await s.batches.countOpenBatches('b1', 10_000)).toBe(2);
      expect(await s.batches.countOpenBatches('b1', 10_900)).toBe(0);
      await s.batches.createBatch(batchOf('b2', ids, 10_000), 2); // another user
      await s.batches.createBatch(batchOf(null, ids, 10_000), 0); // no user: not capped
      // Once the first two expire, the user may make more; pruning drops them.
      await s.batches.createBatch(batchOf('b1', ids, 10_900), 2);
      expect(await s.batches.getBatch(first.tokenHash, 10_900)).toBeNull();
      expect(await s.batches.pruneBatches(10_900)).toBe(4);
    });

    it('a batch answers until its expiry second (exclusive); prune drops only expired ones; a batch of no user and an empty one round-trip', async () => {
      const s = store();
      const ids = Array.from({ length: 2 }, () => randomBytes(16).toString('hex'));
      const mine = batchOf('b4', ids, 20_000, 100);
      const service = { ...batchOf(null, ids, 20_000, 500), compression: 'deflate' as const, totalSize: 12_345 };
      const empty = batchOf('b4', [], 20_000, 500);
      for (const b of [mine, service, empty]) await s.batches.createBatch(b, 10);
      expect(await s.batches.getBatch(service.tokenHash, 20_001)).toEqual(service);
      expect(await s.batches.getBatch(empty.tokenHash, 20_001)).toEqual(empty);
      expect(await s.batches.getBatch('f'.repeat(64), 20_001)).toBeNull();
      expect(await s.batches.getBatch(mine.tokenHash, 20_099)).toEqual(mine);
      expect(await s.batches.countOpenBatches('b4', 20_099)).toBe(2);
      expect(await s.batches.getBatch(mine.tokenHash, 20_100)).toBeNull();
      expect(await s.batches.countOpenBatches('b4', 20_100)).toBe(1);
      expect(await s.batches.pruneBatches(20_099)).toBe(0);
      expect(await s.batches.pruneBatches(20_100)).toBe(1);
      expect(await s.batches.getBatch(service.tokenHash, 20_100)).toEqual(service);
      expect(await s.batches.pruneBatches(20_100)).toBe(0);
    });

    it('refuses an id that is not 32 lower-case hex characters (it would misalign the packed list)', async () => {
      await expect(store().batches.createBatch(batchOf('b3', ['ABC'], 1), 5)).rejects.toThrow();
    });
  });
}
