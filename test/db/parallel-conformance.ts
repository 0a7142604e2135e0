/**
 * The MetadataStore's concurrency contract, with real parallelism: two worker threads, each
 * with its own connection to the database under test (reached by its DATABASE_URL), race
 * round after round (runInWorkers starts every round together). One event loop can serialise
 * an in-process race however the store is written; here a check-then-write that the database
 * does not make atomic lets both win, or makes the loser fail with a driver error instead of
 * the contract's code. Part of metadataConformance, for stores that take many connections.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BatchRecord, MetadataStore, QuotaCheck, RefreshTokenRow } from '../../src/db/types.js';
import { fileOf, uploadOf } from './fixtures.js';
import { label, runInWorkers, type Outcome, type WorkerRun } from './parallel.js';

/**
 * Rounds per case: each round is one race, and only races whose calls overlap can expose a
 * store that is not atomic. Measured on 2 cores against such stores: a one-statement call
 * (a lease taken by SELECT then upsert) overlapped in 0–3.5% of rounds, so 600 rounds; a
 * deferred transaction lost 1–57% of rounds, so 400; 30 inserts per call raised that to 14–52%.
 */
const rounds = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

/** The two workers' outcomes of each round, as sorted labels. */
function pairs(runs: WorkerRun[]): string[][] {
  for (const run of runs) expect(label(run.opened)).toBe('ok');
  return runs[0]!.results.map((_, i) => runs.map((run) => label(run.results[i]!)).sort());
}

const quota = (userId: string): QuotaCheck => ({ userId, defaultQuotaBytes: 1000 });
const batchOf = (userId: string, createdAt: number): BatchRecord => {
  const fileIds = [randomBytes(16).toString('hex')];
  return { tokenHash: randomBytes(32).toString('hex'), userId, name: 'b.zip', compression: 'store', fileIds, fileCount: 1, totalSize: 1, createdAt, expiresAt: createdAt + 900 };
};

/**
 * `open()` gives the store under test (the observer) and `databaseUrl`, where the workers
 * open their own connections to the same database.
 */
export function parallelConformance(open: () => { store: MetadataStore; databaseUrl: string }): void {
  describe('concurrency with real parallelism (two worker threads, two connections)', () => {
    it('concurrent reservations of 60% each: exactly one wins, the other is quota_exceeded, in every round', async () => {
      const { store, databaseUrl } = open();
      const n = 100;
      // 60% as 30 uploads of 2%: the winner holds the write lock longer, so more rounds overlap
      // (with deferred transactions 14–52% of rounds failed with SQLITE_BUSY, 1–4% with one upload).
      const calls = () => rounds(n, (i) => [Array.from({ length: 30 }, () => uploadOf(`r${i}`, 20)), quota(`r${i}`)]);
      const runs = await runInWorkers({ databaseUrl, method: 'uploads.createUploads', callsPerWorker: [calls(), calls()] });
      for (const pair of pairs(runs)) expect(pair).toEqual(['QuotaExceeded:quota_exceeded', 'ok']);
      for (let i = 0; i < n; i++) expect(await store.files.usage(`r${i}`)).toMatchObject({ reservedBytes: 600, openUploads: 30 });
    });

    it('concurrent one-request inserts of 60% each: exactly one file is stored per user', async () => {
      const { store, databaseUrl } = open();
      const n = 400;
      const calls = () => rounds(n, (i) => [fileOf(`i${i}`, '', 600), quota(`i${i}`)]);
      const runs = await runInWorkers({ databaseUrl, method: 'files.insertFile', callsPerWorker: [calls(), calls()] });
      for (const pair of pairs(runs)) expect(pair).toEqual(['QuotaExceeded:quota_exceeded', 'ok']);
      for (let i = 0; i < n; i++) expect(await store.files.usage(`i${i}`)).toEqual({ usedBytes: 600, reservedBytes: 0, fileCount: 1, openUploads: 0 });
    });

    it('concurrent batches against a cap of one: exactly one is stored, the other is too_many_batches', async () => {
      const { store, databaseUrl } = open();
      const n = 400;
      const calls = () => rounds(n, (i) => [batchOf(`b${i}`, 10_000), 1]);
      const runs = await runInWorkers({ databaseUrl, method: 'batches.createBatch', callsPerWorker: [calls(), calls()] });
      for (const pair of pairs(runs)) expect(pair).toEqual(['LimitReached:too_many_batches', 'ok']);
      for (let i = 0; i < n; i++) expect(await store.batches.countOpenBatches(`b${i}`, 10_000)).toBe(1);
    });

    it('two instances racing for a lease, free or lapsed: exactly one holds it', async () => {
      const { store, databaseUrl } = open();
      const n = 600;
      const now = Date.parse('2030-01-01T00:00:00Z');
      // Odd rounds race for a lease a dead instance let lapse; even rounds for a free one.
      for (let i = 1; i < n; i += 2) await store.leases.tryAcquire(`lease-${i}`, 'dead', 1000, now - 5000);
      const calls = (holder: string) => rounds(n, (i) => [`lease-${i}`, holder, 60_000, now]);
      const runs = await runInWorkers({ databaseUrl, method: 'leases.tryAcquire', callsPerWorker: [calls('A'), calls('B')] });
      const wins = (run: WorkerRun) => run.results.map((o: Outcome) => (o.ok ? o.value : label(o)));
      for (let i = 0; i < n; i++) {
        const [a, b] = runs.map((run) => wins(run)[i]);
        expect([a, b].sort()).toEqual([false, true]);
        expect(await store.leases.holder(`lease-${i}`, now)).toBe(a ? 'A' : 'B');
      }
    });

    it('a refresh token presented twice at once is spent once: the loser replays the winner\'s successor', async () => {
      const { store, databaseUrl } = open();
      const n = 150;
      const row = (jti: string, familyId: string, accessJti: string): RefreshTokenRow => ({ jti, familyId, userId: 'ru', accessJti, issuedAt: 1000, expiresAt: 9000, accessExpiresAt: 1900 });
      for (let i = 0; i < n; i++) await store.tokens.createRefreshFamily(row(`t${i}`, `fam${i}`, `a${i}`), 1000);
      const calls = (who: string) => rounds(n, (i) => [`t${i}`, row(`t${i}-${who}`, '', `a${i}-${who}`), 1001, 10]);
      const runs = await runInWorkers({ databaseUrl, method: 'tokens.rotateRefreshToken', callsPerWorker: [calls('A'), calls('B')] });
      for (const run of runs) expect(label(run.opened)).toBe('ok');
      for (let i = 0; i < n; i++) {
        const results = runs.map((run) => run.results[i]!);
        const values = results.map((o) => (o.ok ? (o.value as { outcome: string; successor?: RefreshTokenRow }) : { outcome: label(o) }));
        expect(values.map((v) => v.outcome).sort()).toEqual(['replayed', 'rotated']);
        const winner = values[0]!.outcome === 'rotated' ? 'A' : 'B';
        const replay = values.find((v) => v.outcome === 'replayed')!;
        expect(replay.successor).toMatchObject({ jti: `t${i}-${winner}`, accessJti: `a${i}-${winner}`, familyId: `fam${i}` });
        // The loser's candidate was never recorded: presenting it is 'unknown'.
        const loser = winner === 'A' ? 'B' : 'A';
        expect(await store.tokens.rotateRefreshToken(`t${i}-${loser}`, row(`x${i}`, '', `xa${i}`), 1002, 10)).toEqual({ outcome: 'unknown' });
      }
    });
  });
}
