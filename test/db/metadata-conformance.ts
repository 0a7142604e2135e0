/**
 * The MetadataStore contract as a reusable suite: SQLite today, PostgreSQL later. Call
 * `metadataConformance('name', factory, caps)` from a *.test.ts file; each test gets a fresh
 * store. Failures are asserted by error class and `code` (src/errors), never by HTTP status.
 * A store reachable by several connections gives its DATABASE_URL and declares
 * `manyConnections`: its races then run in worker threads, each with its own connection
 * (parallel-conformance.ts); a one-connection store (':memory:') declares it lacks that.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileRecord, MetadataStore, QuotaCheck } from '../../src/db/types.js';
import { QuotaExceeded, WrongState } from '../../src/errors/index.js';
import { bigintConformance } from './bigint-conformance.js';
import { expectFailure, fileOf, tick, uploadOf, type StoreUnderTest } from './fixtures.js';
import { folderConformance } from './folder-conformance.js';
import { leaseConformance } from './lease-conformance.js';
import { lifecycleConformance } from './lifecycle-conformance.js';
import { limitsConformance } from './limits-conformance.js';
import { listingConformance } from './listing-conformance.js';
import { parallelConformance } from './parallel-conformance.js';
import { revocationConformance } from './revocation-conformance.js';
import { outboxConformance } from './outbox-conformance.js';
import { partWriteFenceRaceConformance, uploadConformance, uploadRaceConformance } from './upload-conformance.js';

// The record makers were here first; other suites import them from this module.
export { fileOf, uploadOf } from './fixtures.js';

const quota = (userId: string, bytes = 1000): QuotaCheck => ({ userId, defaultQuotaBytes: bytes });

export function metadataConformance(name: string, factory: () => Promise<StoreUnderTest>, caps: { manyConnections: boolean }): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    let store: MetadataStore;
    let cleanup: () => Promise<void>;
    let databaseUrl: string | undefined;
    beforeEach(async () => {
      ({ store, cleanup, databaseUrl } = await factory());
    });
    afterEach(async () => cleanup());

    describe('files', () => {
      it('insertFile / getFile / usage / deleteFile', async () => {
        const f = fileOf('u1', 'docs', 100);
        await store.files.insertFile(f, quota('u1'));
        expect(await store.files.getFile(f.key)).toEqual(f);
        expect(await store.files.getFile(f.key + 'x')).toBeNull();
        expect(await store.files.usage('u1')).toEqual({ usedBytes: 100, reservedBytes: 0, fileCount: 1, openUploads: 0 });
        await expect(store.files.insertFile(f, quota('u1'))).rejects.toThrow(); // duplicate key
        expect(await store.files.deleteFile(f.key)).toEqual(f);
        expect(await store.files.deleteFile(f.key)).toBeNull();
        expect(await store.files.usage('u1')).toEqual({ usedBytes: 0, reservedBytes: 0, fileCount: 0, openUploads: 0 });
      });

      it('insertFile checks used + reserved + size against the quota, atomically', async () => {
        await store.files.insertFile(fileOf('u1', '', 600), quota('u1'));
        await store.uploads.createUploads([uploadOf('u1', 300)], quota('u1'));
        await expectFailure(store.files.insertFile(fileOf('u1', '', 101), quota('u1')), QuotaExceeded, 'quota_exceeded');
        await store.files.insertFile(fileOf('u1', '', 100), quota('u1')); // exactly full
        expect(await store.files.usage('u1')).toEqual({ usedBytes: 700, reservedBytes: 300, fileCount: 2, openUploads: 1 });
      });

      it('listFiles: folder (recursive or not, never a prefix sibling), newest first, keyset pages, totals over all matches', async () => {
        const made: Record<string, FileRecord> = {};
        for (const [label, folder, size] of [['root', '', 1], ['main', 'main', 2], ['pics', 'main/pics', 4], ['deep', 'main/pics/2024', 8], ['old', 'main-old', 16], ['mainly', 'mainly', 32], ['slashy', 'main0', 64]] as const) {
          made[label] = fileOf('u1', folder, size);
          await store.files.insertFile(made[label]!, quota('u1', 1e9));
        }
        await store.files.insertFile(fileOf('u2', 'main', 128), quota('u2', 1e9));
        const labels = (files: FileRecord[]) => files.map((f) => Object.entries(made).find(([, m]) => m.key === f.key)?.[0]);

        const all = await store.files.listFiles('u1', { recursive: true, limit: 100 });
        expect(labels(all.files)).toEqual(['slashy', 'mainly', 'old', 'deep', 'pics', 'main', 'root']);
        expect(all).toMatchObject({ totalCount: 7, totalSize: 127, hasMore: false });
        const main = await store.files.listFiles('u1', { folder: 'main', recursive: true, limit: 100 });
        expect(labels(main.files)).toEqual(['deep', 'pics', 'main']);
        expect(main).toMatchObject({ totalCount: 3, totalSize: 14 });
        const flat = await store.files.listFiles('u1', { folder: 'main', recursive: false, limit: 100 });
        expect(labels(flat.files)).toEqual(['main']);
        expect(flat).toMatchObject({ totalCount: 1, totalSize: 2 });

        const page1 = await store.files.listFiles('u1', { recursive: true, limit: 3 });
        expect(page1).toMatchObject({ hasMore: true, totalCount: 7 });
        const last = page1.files[2]!;
        const page2 = await store.files.listFiles('u1', { recursive: true, limit: 3, after: { createdAt: last.createdAt, id: last.id } });
        expect(labels(page2.files)).toEqual(['deep', 'pics', 'main']);
        expect(page2).toMatchObject({ hasMore: true, totalCount: 7, totalSize: 127 });
        const l2 = page2.files[2]!;
        const page3 = await store.files.listFiles('u1', { recursive: true, limit: 3, after: { createdAt: l2.createdAt, id: l2.id } });
        expect(labels(page3.files)).toEqual(['root']);
        expect(page3.hasMore).toBe(false);
      });

      it('a folder named outside the Basic Multilingual Plane lists its subfolders too (recursive pages and totals)', async () => {
        const q = quota('emoji', 10_000);
        const top = fileOf('emoji', '😀', 10);
        const deep = fileOf('emoji', '😀/sub', 20);
        const beside = fileOf('emoji', '😀x', 40);
        for (const f of [top, deep, beside]) await store.files.insertFile(f, q);
        const page = await store.files.listFiles('emoji', { folder: '😀', recursive: true, limit: 10 });
        expect(page.files.map((f) => f.id).sort()).toEqual([top.id, deep.id].sort());
        expect(page).toMatchObject({ totalCount: 2, totalSize: 30 });
        expect((await store.files.listFiles('emoji', { folder: '😀', recursive: false, limit: 10 })).files.map((f) => f.id)).toEqual([top.id]);
      });

      it('keyset pages are exact when many files share one created_at (ties broken by id)', async () => {
        const at = tick();
        for (let i = 0; i < 9; i++) await store.files.insertFile(fileOf('u1', 'same', 1, at), quota('u1'));
        const seen: string[] = [];
        let after: { createdAt: string; id: string } | undefined;
        for (;;) {
          const page = await store.files.listFiles('u1', { folder: 'same', recursive: true, limit: 4, after });
          seen.push(...page.files.map((f) => f.id));
          if (!page.hasMore) break;
          const l = page.files[page.files.length - 1]!;
          after = { createdAt: l.createdAt, id: l.id };
        }
        expect(seen).toHaveLength(9);
        expect(new Set(seen).size).toBe(9);
        expect([...seen].sort().reverse()).toEqual(seen);
      });
    });

    describe('uploads', () => {
      it('createUploads reserves the sizes; over the quota it creates none of them', async () => {
        const a = uploadOf('u1', 400);
        const b = uploadOf('u1', 400);
        await store.uploads.createUploads([a, b], quota('u1'));
        expect(await store.uploads.getUpload(a.id)).toEqual(a);
        expect(await store.files.usage('u1')).toMatchObject({ reservedBytes: 800 });
        const c = uploadOf('u1', 150);
        const d = uploadOf('u1', 100);
        await expectFailure(store.uploads.createUploads([c, d], quota('u1')), QuotaExceeded, 'quota_exceeded');
        expect(await store.uploads.getUpload(c.id)).toBeNull();
        expect(await store.uploads.getUpload(d.id)).toBeNull();
        expect(await store.files.usage('u1')).toMatchObject({ reservedBytes: 800 });
      });

      it("a user's quota override replaces the default", async () => {
        await store.users.createUser({ id: 'q1', username: 'q1', email: null, passwordHash: 'x', role: 'operator', createdAt: new Date().toISOString() });
        await store.users.updateUser('q1', { quotaBytes: 50 });
        await expectFailure(store.uploads.createUploads([uploadOf('q1', 51)], quota('q1')), QuotaExceeded, 'quota_exceeded');
        await store.users.updateUser('q1', { quotaBytes: 5000 });
        await store.uploads.createUploads([uploadOf('q1', 4000)], quota('q1'));
      });
    });

    uploadConformance(() => ({ store, databaseUrl }));
    limitsConformance(() => store);
    leaseConformance(() => store);
    folderConformance(() => store);
    listingConformance(() => store);
    revocationConformance(() => store);
    outboxConformance(() => store);
    bigintConformance(() => store);
    lifecycleConformance(() => store);
    if (caps.manyConnections) {
      const both = () => {
        if (!databaseUrl) throw new Error(`${name}: a store with manyConnections must give its databaseUrl`);
        return { store, databaseUrl };
      };
      parallelConformance(both);
      describe('upload parts with real parallelism', () => {
        uploadRaceConformance(both);
        partWriteFenceRaceConformance(both);
      });
    }

    describe('users and tokens', () => {
      it('users: create, look up (username case-insensitive), conflict, update, soft delete, count', async () => {
        const base = { email: null, passwordHash: 'h', role: 'operator' as const, createdAt: new Date().toISOString() };
        await store.users.createUser({ id: 'id-1', username: 'Alice', ...base });
        await expectFailure(store.users.createUser({ id: 'id-2', username: 'alice', ...base }), WrongState, 'username_taken');
        expect(await store.users.getUserByUsername('ALICE')).toMatchObject({ id: 'id-1', username: 'Alice', isActive: true, quotaBytes: null });
        expect(await store.users.updateUser('id-1', { role: 'viewer', quotaBytes: 10 })).toMatchObject({ role: 'viewer', quotaBytes: 10 });
        expect(await store.users.countUsers()).toBe(1);
        expect(await store.users.deleteUser('id-1')).toBe(true);
        expect(await store.users.getUserById('id-1')).toBeNull();
        expect(await store.users.listUsers()).toEqual([]);
        await store.users.createUser({ id: 'id-3', username: 'alice', ...base }); // the name is free again
      });

      const row = (jti: string, fam: string, userId: string, access: string, expiresAt = 9_000) => ({
        jti,
        familyId: fam,
        userId,
        accessJti: access,
        issuedAt: 1000,
        expiresAt,
        accessExpiresAt: 1900,
      });

      it('tokens: rotation, reuse revokes the family, revocation by id, disabled users and roles, pruning', async () => {
        await store.tokens.createRefreshFamily(row('r1', 'fam-1', 'u1', 'a1', 2000), 1000);
        expect(await store.tokens.rotateRefreshToken('r1', row('r2', '', 'u1', 'a2', 2000), 1001, 0)).toEqual({ outcome: 'rotated' });
        expect(await store.tokens.rotateRefreshToken('r1', row('r3', '', 'u1', 'a3', 2000), 1002, 0)).toEqual({ outcome: 'reused' });
        expect(await store.tokens.rotateRefreshToken('r2', row('r4', '', 'u1', 'a4', 2000), 1003, 0)).toEqual({ outcome: 'revoked' });
        expect(await store.tokens.rotateRefreshToken('nope', row('r5', '', 'u1', 'a5', 2000), 1003, 0)).toEqual({ outcome: 'unknown' });
        expect(await store.tokens.checkToken('a9', 'u1')).toEqual({ revoked: false, userDisabled: false, role: null });
        await store.tokens.revokeAccessToken('a9', 1500);
        await store.tokens.revokeAccessToken('sha256:' + 'ab'.repeat(32), 1500); // an id that is not a jti
        expect((await store.tokens.checkToken('a9', 'u1')).revoked).toBe(true);
        expect((await store.tokens.checkToken('sha256:' + 'ab'.repeat(32), 'u1')).revoked).toBe(true);
        await store.users.createUser({ id: 'u1', username: 'u1', email: null, passwordHash: 'h', role: 'operator', createdAt: new Date().toISOString() });
        expect(await store.tokens.checkToken('a8', 'u1')).toEqual({ revoked: false, userDisabled: false, role: 'operator' });
        await store.users.updateUser('u1', { role: 'viewer' });
        expect((await store.tokens.checkToken('a8', 'u1')).role).toBe('viewer');
        await store.users.updateUser('u1', { isActive: false });
        expect((await store.tokens.checkToken('a8', 'u1')).userDisabled).toBe(true);
        // Revocations are kept while their expiry is not before the cutoff, then dropped.
        expect(await store.tokens.pruneTokens(1500)).toBe(0);
        expect((await store.tokens.checkToken('a9', 'u1')).revoked).toBe(true);
        expect(await store.tokens.pruneTokens(3000)).toBeGreaterThanOrEqual(1);
        expect((await store.tokens.checkToken('a9', 'u1')).revoked).toBe(false);
      });

      it('a deleted user is disabled for the check, whatever their role was', async () => {
        await store.users.createUser({ id: 'd1', username: 'd1', email: null, passwordHash: 'h', role: 'admin', createdAt: new Date().toISOString() });
        await store.users.deleteUser('d1');
        expect((await store.tokens.checkToken('x', 'd1')).userDisabled).toBe(true);
      });

      it('a spent token presented again within the grace window gets the same unspent successor, never a new one', async () => {
        await store.tokens.createRefreshFamily(row('g-r1', 'g-f1', 'gu', 'g-a1'), 1000);
        expect(await store.tokens.rotateRefreshToken('g-r1', row('g-r2', '', 'gu', 'g-a2'), 1000, 10)).toEqual({ outcome: 'rotated' });
        const again = { outcome: 'replayed', successor: row('g-r2', 'g-f1', 'gu', 'g-a2') };
        expect(await store.tokens.rotateRefreshToken('g-r1', row('g-r3', '', 'gu', 'g-a3'), 1005, 10)).toEqual(again);
        expect(await store.tokens.rotateRefreshToken('g-r1', row('g-r4', '', 'gu', 'g-a4'), 1009, 10)).toEqual(again);
        // The successor works (the candidates offered above were not recorded)…
        expect(await store.tokens.rotateRefreshToken('g-r2', row('g-r5', '', 'gu', 'g-a5'), 1011, 10)).toEqual({ outcome: 'rotated' });
        // …and once it is spent, the first token's replay is reuse: the family goes.
        expect(await store.tokens.rotateRefreshToken('g-r1', row('g-r6', '', 'gu', 'g-a6'), 1012, 10)).toEqual({ outcome: 'reused' });
        expect(await store.tokens.rotateRefreshToken('g-r5', row('g-r7', '', 'gu', 'g-a7'), 1013, 10)).toEqual({ outcome: 'revoked' });
        expect((await store.tokens.checkToken('g-a5', 'gu')).revoked).toBe(true);
        expect((await store.tokens.checkToken('g-a3', 'gu')).revoked).toBe(false); // never issued, never recorded
      });

      it('reuse after the grace window revokes the family and its access tokens', async () => {
        await store.tokens.createRefreshFamily(row('h-r1', 'h-f1', 'hu', 'h-a1'), 1000);
        expect(await store.tokens.rotateRefreshToken('h-r1', row('h-r2', '', 'hu', 'h-a2'), 1000, 10)).toEqual({ outcome: 'rotated' });
        expect(await store.tokens.rotateRefreshToken('h-r1', row('h-r3', '', 'hu', 'h-a3'), 1010, 10)).toEqual({ outcome: 'reused' });
        expect(await store.tokens.rotateRefreshToken('h-r2', row('h-r4', '', 'hu', 'h-a4'), 1012, 10)).toEqual({ outcome: 'revoked' });
        for (const a of ['h-a1', 'h-a2']) expect((await store.tokens.checkToken(a, 'hu')).revoked).toBe(true);
      });

      it("a family's access revocations last until the access tokens' own expiry", async () => {
        await store.tokens.createRefreshFamily(row('e-r1', 'e-f1', 'eu', 'e-a1', 50_000), 1000);
        await store.tokens.revokeFamily({ accessJti: 'e-a1' }, 1001);
        await store.tokens.pruneTokens(1900); // accessExpiresAt 1900: not before the cutoff, kept
        expect((await store.tokens.checkToken('e-a1', 'eu')).revoked).toBe(true);
        await store.tokens.pruneTokens(1901);
        expect((await store.tokens.checkToken('e-a1', 'eu')).revoked).toBe(false);
      });

      it("revokeUserSessions ends every family of that user and their access tokens, no one else's", async () => {
        await store.tokens.createRefreshFamily(row('s-r1', 's-f1', 'su1', 's-a1'), 1000);
        await store.tokens.createRefreshFamily(row('s-r2', 's-f2', 'su1', 's-a2'), 1000);
        await store.tokens.createRefreshFamily(row('s-r3', 's-f3', 'su2', 's-a3'), 1000);
        await store.tokens.revokeUserSessions('su1', 1001);
        expect((await store.tokens.checkToken('s-a1', 'su1')).revoked).toBe(true);
        expect((await store.tokens.checkToken('s-a2', 'su1')).revoked).toBe(true);
        expect((await store.tokens.rotateRefreshToken('s-r1', row('s-r9', 's-f1', 'su1', 's-a9'), 1002, 10)).outcome).toBe('revoked');
        expect((await store.tokens.checkToken('s-a3', 'su2')).revoked).toBe(false);
        expect((await store.tokens.rotateRefreshToken('s-r3', row('s-r4', 's-f3', 'su2', 's-a4'), 1002, 10)).outcome).toBe('rotated');
        await store.tokens.revokeUserSessions('nobody', 1003); // no sessions: nothing happens
      });
    });
  });
}
