/**
 * The UploadStore's part and assembly contract: a part is recorded by one conditional write
 * (only while open), the row names the copy that counts, an assembly is held under a lease
 * that only its holder renews, aborts or finishes, and a lapsed lease can be reclaimed.
 * Races are outcomes, never exceptions. Part of metadataConformance.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore, PartRecord, QuotaCheck } from '../../src/db/types.js';
import { fileOf, uploadOf } from './fixtures.js';
import { label, raceScripts, runInWorkers, type Step } from './parallel.js';

const quota = (userId: string, bytes = 1000): QuotaCheck => ({ userId, defaultQuotaBytes: bytes });
const part = (partNumber: number, size: number, ref: string, sha = 'a'): PartRecord => ({ partNumber, size, sha256: sha.repeat(64), ref });
const T0 = Date.parse('2030-01-01T00:00:00Z');
const LEASE = 60_000;

export function uploadConformance(open: () => { store: MetadataStore; databaseUrl?: string }): void {
  describe('upload parts and assembly', () => {
    it('putPart records a copy, replaces it by a later one (returning the one replaced), and refreshes the activity time', async () => {
      const { store } = open();
      const u = uploadOf('u1', 100, { updatedAt: 1000 });
      await store.uploads.createUploads([u], quota('u1'));
      expect(await store.uploads.putPart(u.id, part(2, 10, 'r2a'), 2000)).toEqual({ outcome: 'recorded', replaced: null });
      expect(await store.uploads.putPart(u.id, part(1, 5, 'r1a', 'b'), 3000)).toEqual({ outcome: 'recorded', replaced: null });
      expect(await store.uploads.putPart(u.id, part(2, 11, 'r2b', 'c'), 4000)).toEqual({ outcome: 'recorded', replaced: part(2, 10, 'r2a') });
      expect(await store.uploads.listParts(u.id)).toEqual([part(1, 5, 'r1a', 'b'), part(2, 11, 'r2b', 'c')]);
      expect((await store.uploads.getUpload(u.id))!.updatedAt).toBe(4000);
    });

    it('dropPart forgets a recorded part while the upload is open, and nothing once it is not', async () => {
      const { store } = open();
      const u = uploadOf('u1', 100, { updatedAt: 1 });
      await store.uploads.createUploads([u], quota('u1'));
      await store.uploads.putPart(u.id, part(1, 5, 'a'), 2);
      await store.uploads.putPart(u.id, part(2, 5, 'b'), 3);
      expect(await store.uploads.dropPart(u.id, 1, 4)).toBe(true);
      expect(await store.uploads.dropPart(u.id, 1, 5)).toBe(false); // already gone
      expect(await store.uploads.listParts(u.id)).toEqual([part(2, 5, 'b')]);
      expect((await store.uploads.getUpload(u.id))!.updatedAt).toBe(5);
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k', 6, T0)).toBe(true);
      expect(await store.uploads.dropPart(u.id, 2, 7)).toBe(false); // not open: the parts stay
      expect(await store.uploads.listParts(u.id)).toEqual([part(2, 5, 'b')]);
      expect(await store.uploads.dropPart('no-such-upload', 1, 8)).toBe(false);
    });

    it('putPart is refused as an outcome when the upload is gone or no longer open; nothing is recorded', async () => {
      const { store } = open();
      expect(await store.uploads.putPart('no-such-upload', part(1, 1, 'x'), 1)).toEqual({ outcome: 'not_found' });
      const u = uploadOf('u1', 1, { updatedAt: 1 });
      await store.uploads.createUploads([u], quota('u1'));
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k', 2, T0)).toBe(true);
      expect(await store.uploads.putPart(u.id, part(1, 1, 'x'), 3)).toEqual({ outcome: 'not_open' });
      expect(await store.uploads.listParts(u.id)).toEqual([]);
      expect((await store.uploads.getUpload(u.id))!.updatedAt).toBe(2);
    });

    it('assembly: open → assembling once, under a lease that only its attempt renews, aborts or finishes', async () => {
      const { store } = open();
      const u = uploadOf('u1', 100);
      await store.uploads.createUploads([u], quota('u1'));
      await store.uploads.putPart(u.id, part(1, 100, 'r1'), T0);
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k', T0, T0 + LEASE)).toBe(true);
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k2', T0, T0 + LEASE)).toBe(false);
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ state: 'assembling', fileKey: 'storage/u1/k', leaseUntil: T0 + LEASE });
      expect(await store.uploads.renewAssembly(u.id, 'storage/u1/other', T0 + 2 * LEASE)).toBe(false);
      expect(await store.uploads.renewAssembly(u.id, 'storage/u1/k', T0 + 2 * LEASE)).toBe(true);
      expect((await store.uploads.getUpload(u.id))!.leaseUntil).toBe(T0 + 2 * LEASE);
      expect(await store.uploads.abortAssembly(u.id, 'storage/u1/other', T0)).toBe(false);
      expect(await store.uploads.abortAssembly(u.id, 'storage/u1/k', T0 + 1)).toBe(true);
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ state: 'open', fileKey: null, leaseUntil: null, updatedAt: T0 + 1 });
      expect(await store.uploads.listParts(u.id)).toEqual([part(1, 100, 'r1')]);
      expect(await store.uploads.abortAssembly(u.id, 'storage/u1/k', T0 + 2)).toBe(false); // already open

      const file = fileOf('u1', '', 100);
      expect(await store.uploads.finishAssembly(u.id, file)).toBe(false); // not assembling: nothing written
      expect(await store.files.getFile(file.key)).toBeNull();
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/someone-else', T0, T0 + LEASE)).toBe(true);
      expect(await store.uploads.finishAssembly(u.id, file)).toBe(false); // another attempt's lease
      expect(await store.files.getFile(file.key)).toBeNull();
      expect(await store.uploads.abortAssembly(u.id, 'storage/u1/someone-else', T0)).toBe(true);
      expect(await store.uploads.beginAssembly(u.id, file.key, T0, T0 + LEASE)).toBe(true);
      expect(await store.uploads.finishAssembly(u.id, file)).toBe(true);
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ state: 'completed', fileKey: file.key, leaseUntil: null });
      expect(await store.files.getFile(file.key)).toEqual(file);
      expect(await store.files.usage('u1')).toEqual({ usedBytes: 100, reservedBytes: 0, fileCount: 1, openUploads: 0 });
      expect(await store.uploads.listParts(u.id)).toEqual([]);
    });

    it('rebaseAssembly: only the attempt holding the assembly replaces the store reference and the named parts\' refs, in one write', async () => {
      const { store } = open();
      const u = uploadOf('u1', 100, { blobRef: 'mpu-1' });
      await store.uploads.createUploads([u], quota('u1'));
      await store.uploads.putPart(u.id, part(1, 60, 'e1'), T0);
      await store.uploads.putPart(u.id, part(2, 40, 'e2', 'b'), T0);
      const moved = [{ partNumber: 1, ref: 'c1' }, { partNumber: 2, ref: 'c2' }];
      expect(await store.uploads.rebaseAssembly(u.id, 'storage/u1/k', 'mpu-2', moved)).toBe(false); // open: not assembling
      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k', T0, T0 + LEASE)).toBe(true);
      expect(await store.uploads.rebaseAssembly(u.id, 'storage/u1/other', 'mpu-2', moved)).toBe(false); // another attempt's
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ blobRef: 'mpu-1' });
      expect(await store.uploads.listParts(u.id)).toEqual([part(1, 60, 'e1'), part(2, 40, 'e2', 'b')]);
      expect(await store.uploads.rebaseAssembly(u.id, 'storage/u1/k', 'mpu-2', moved)).toBe(true);
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ blobRef: 'mpu-2', state: 'assembling' });
      expect(await store.uploads.listParts(u.id)).toEqual([part(1, 60, 'c1'), part(2, 40, 'c2', 'b')]);
    });

    it('a lapsed lease is listed and reclaimed (once, and only once lapsed); a renewed one is not', async () => {
      const { store } = open();
      const ups = [uploadOf('u1', 1), uploadOf('u1', 1), uploadOf('u1', 1)];
      await store.uploads.createUploads(ups, quota('u1'));
      for (const [i, u] of ups.entries()) expect(await store.uploads.beginAssembly(u.id, `storage/u1/k${i}`, T0, T0 + LEASE)).toBe(true);
      expect(await store.uploads.expiredAssemblies(T0 + LEASE - 1, 10)).toEqual([]);
      expect(await store.uploads.reclaimAssembly(ups[0]!.id, 'storage/u1/k0', T0 + LEASE - 1)).toBe(false); // still live
      await store.uploads.renewAssembly(ups[2]!.id, 'storage/u1/k2', T0 + 10 * LEASE);
      const lapsed = (await store.uploads.expiredAssemblies(T0 + LEASE, 10)).map((u) => u.id);
      expect(lapsed.sort()).toEqual([ups[0]!.id, ups[1]!.id].sort());
      const [first] = await store.uploads.expiredAssemblies(T0 + LEASE, 1);
      const rest = await store.uploads.expiredAssemblies(T0 + LEASE, 10, first!.id);
      expect([first!.id, ...rest.map((u) => u.id)].sort()).toEqual(lapsed.sort());
      expect(await store.uploads.reclaimAssembly(ups[0]!.id, 'storage/u1/wrong', T0 + LEASE)).toBe(false);
      expect(await store.uploads.reclaimAssembly(ups[0]!.id, 'storage/u1/k0', T0 + LEASE)).toBe(true);
      expect(await store.uploads.reclaimAssembly(ups[0]!.id, 'storage/u1/k0', T0 + LEASE)).toBe(false);
      expect(await store.uploads.getUpload(ups[0]!.id)).toMatchObject({ state: 'open', fileKey: null, leaseUntil: null });
      // The lapsed attempt comes back too late: it can no longer finish.
      expect(await store.uploads.finishAssembly(ups[0]!.id, { ...fileOf('u1', '', 1), key: 'storage/u1/k0' })).toBe(false);
      expect((await store.uploads.expiredAssemblies(T0 + LEASE, 10)).map((u) => u.id)).toEqual([ups[1]!.id]);
    });

    it('part-write fence: a write registers only while open, renews its lease whatever the state (answering whether still open), counts as live until it ends or lapses', async () => {
      const { store } = open();
      expect(await store.uploads.beginPartWrite('no-such-upload', 'w0', 1, T0)).toBe('not_found');
      const u = uploadOf('u1', 100, { updatedAt: 1 });
      await store.uploads.createUploads([u], quota('u1'));
      expect(await store.uploads.beginPartWrite(u.id, 'w1', 2, T0 + 10)).toBe('registered');
      expect(await store.uploads.beginPartWrite(u.id, 'w2', 3, T0 + 20)).toBe('registered');
      expect((await store.uploads.getUpload(u.id))!.updatedAt).toBe(3); // a write starting is activity
      expect(await store.uploads.livePartWrites(u.id, T0)).toBe(2);
      expect(await store.uploads.livePartWrites(u.id, T0 + 10)).toBe(1); // w1's lease ran out (leaseUntil <= now)
      expect(await store.uploads.renewPartWrite(u.id, 'w1', T0 + 30)).toBe(true);
      expect(await store.uploads.livePartWrites(u.id, T0 + 20)).toBe(1);
      expect(await store.uploads.renewPartWrite(u.id, 'nobody', T0 + 30)).toBe(false);
      expect(await store.uploads.livePartWrites(u.id, T0 + 29)).toBe(1);

      expect(await store.uploads.beginAssembly(u.id, 'storage/u1/k', 4, T0 + LEASE)).toBe(true);
      expect(await store.uploads.beginPartWrite(u.id, 'w3', 5, T0 + 40)).toBe('not_open');
      // Renewed all the same (its request may still be in flight), but told the upload left 'open'.
      expect(await store.uploads.renewPartWrite(u.id, 'w2', T0 + 50)).toBe(false);
      expect(await store.uploads.livePartWrites(u.id, T0 + 45)).toBe(1);
      await store.uploads.endPartWrite(u.id, 'w2');
      await store.uploads.endPartWrite(u.id, 'w2'); // idempotent
      expect(await store.uploads.livePartWrites(u.id, T0)).toBe(1); // w1 (renewed to T0 + 30)
      expect(await store.uploads.abortAssembly(u.id, 'storage/u1/k', 6)).toBe(true);
      expect(await store.uploads.renewPartWrite(u.id, 'w1', T0 + 60)).toBe(true); // open again

      // Completed or deleted: no write is left registered.
      const file = fileOf('u1', '', 100);
      expect(await store.uploads.beginAssembly(u.id, file.key, 7, T0 + LEASE)).toBe(true);
      expect(await store.uploads.finishAssembly(u.id, file)).toBe(true);
      expect(await store.uploads.livePartWrites(u.id, 0)).toBe(0);
      const v = uploadOf('u1', 100, { updatedAt: 1 });
      await store.uploads.createUploads([v], quota('u1'));
      expect(await store.uploads.beginPartWrite(v.id, 'w1', 2, T0)).toBe('registered');
      expect(await store.uploads.deleteUpload(v.id)).toMatchObject({ outcome: 'deleted' });
      expect(await store.uploads.livePartWrites(v.id, 0)).toBe(0);
      expect(await store.uploads.renewPartWrite(v.id, 'w1', T0)).toBe(false);
    });

    it('deleteUpload is one conditional write: by state and idleness, with what it did as the outcome', async () => {
      const { store } = open();
      const idle = uploadOf('u1', 300, { updatedAt: 1000 });
      const busy = uploadOf('u1', 200, { updatedAt: 5000 });
      await store.uploads.createUploads([idle, busy], quota('u1'));
      expect(await store.uploads.deleteUpload('no-such-upload')).toEqual({ outcome: 'not_found' });
      expect(await store.uploads.deleteUpload(busy.id, { idleBefore: 2000 })).toMatchObject({ outcome: 'kept', upload: { id: busy.id } });
      expect(await store.uploads.deleteUpload(idle.id, { states: ['completed'] })).toMatchObject({ outcome: 'kept', upload: { state: 'open' } });
      await store.uploads.putPart(idle.id, part(1, 1, 'r'), 1000);
      expect(await store.uploads.knownUploadIds([idle.id, 'no-such-upload', busy.id])).toEqual(new Set([idle.id, busy.id]));
      expect(await store.uploads.deleteUpload(idle.id, { states: ['open'], idleBefore: 2000 })).toMatchObject({ outcome: 'deleted', upload: { id: idle.id } });
      expect(await store.uploads.listParts(idle.id)).toEqual([]);
      expect(await store.files.usage('u1')).toMatchObject({ reservedBytes: 200, openUploads: 1 });

      const file = fileOf('u1', '', 200);
      await store.uploads.beginAssembly(busy.id, file.key, 6000, 6000 + LEASE);
      expect(await store.uploads.deleteUpload(busy.id, { states: ['open', 'completed'] })).toMatchObject({ outcome: 'kept', upload: { state: 'assembling' } });
      await store.uploads.finishAssembly(busy.id, file);
      expect(await store.uploads.deleteUpload(busy.id)).toMatchObject({ outcome: 'deleted' });
      expect(await store.files.usage('u1')).toEqual({ usedBytes: 200, reservedBytes: 0, fileCount: 1, openUploads: 0 });
      expect(await store.files.getFile(file.key)).toEqual(file);
    });

    it('setLength fixes a deferred upload once: size, part count, mode and the reservation change together; otherwise the row is kept', async () => {
      const { store } = open();
      const deferred = (size: number) => uploadOf('u1', size, { mode: 'tus-deferred', partSize: 100, partCount: Math.ceil(size / 100), updatedAt: 1 });
      const [u, empty, busy] = [deferred(1000), deferred(300), deferred(200)];
      await store.uploads.createUploads([u, empty, busy], quota('u1', 2000));
      await store.uploads.putPart(u.id, part(1, 100, 'r1'), 2);
      expect(await store.uploads.setLength('no-such-upload', 5, 3)).toEqual({ outcome: 'not_found' });
      expect(await store.uploads.setLength(u.id, 1001, 3)).toEqual({ outcome: 'kept', upload: { ...u, updatedAt: 2 } }); // above the reservation
      const set = { ...u, size: 250, partCount: 3, mode: 'tus', updatedAt: 4 };
      expect(await store.uploads.setLength(u.id, 250, 4)).toEqual({ outcome: 'set', upload: set });
      expect(await store.uploads.getUpload(u.id)).toEqual(set);
      expect(await store.uploads.listParts(u.id)).toEqual([part(1, 100, 'r1')]);
      expect(await store.files.usage('u1')).toMatchObject({ reservedBytes: 250 + 300 + 200, openUploads: 3 });
      expect(await store.uploads.setLength(u.id, 200, 5)).toEqual({ outcome: 'kept', upload: set }); // set once: no longer deferred
      expect(await store.uploads.setLength(empty.id, 0, 6)).toMatchObject({ outcome: 'set', upload: { size: 0, partCount: 1, mode: 'tus' } });
      expect(await store.uploads.beginAssembly(busy.id, 'storage/u1/k', 7, T0)).toBe(true);
      expect(await store.uploads.setLength(busy.id, 50, 8)).toMatchObject({ outcome: 'kept', upload: { size: 200, state: 'assembling' } }); // not open
      expect(await store.files.usage('u1')).toMatchObject({ reservedBytes: 250 + 200 });
      // What the upload releases when it goes is its new size: the ledger ends at zero.
      for (const x of [u, empty]) expect(await store.uploads.deleteUpload(x.id)).toMatchObject({ outcome: 'deleted' });
      await store.uploads.abortAssembly(busy.id, 'storage/u1/k', 9);
      await store.uploads.deleteUpload(busy.id);
      expect(await store.files.usage('u1')).toEqual({ usedBytes: 0, reservedBytes: 0, fileCount: 0, openUploads: 0 });
    });

    it('recordConcat keeps the partial URLs a final upload\'s file was made of, until the file goes', async () => {
      const { store } = open();
      const file = fileOf('u1', '', 10);
      await store.files.insertFile(file, quota('u1'));
      expect(await store.uploads.concatOf(file.id)).toBeNull();
      const urls = ['https://h.example/v1/tus/aaaaaaaaaaaa', '/v1/tus/bbbbbbbbbbbb'];
      await store.uploads.recordConcat(file.id, urls);
      expect(await store.uploads.concatOf(file.id)).toEqual(urls);
      await store.files.deleteFile(file.key);
      expect(await store.uploads.concatOf(file.id)).toBeNull();
    });
  });
}

/**
 * Two connections record copies of the same part at once, round after round: each write
 * must see the other's copy or none, so exactly one reports replacing the other and the row
 * ends naming the copy that replaced (no copy is lost track of, none is discarded twice).
 */
export function uploadRaceConformance(open: () => { store: MetadataStore; databaseUrl: string }): void {
  it('two copies of one part recorded at once: one replaces the other, and the row names the later', async () => {
    const { store, databaseUrl } = open();
    const ROUNDS = 60;
    const ups = Array.from({ length: ROUNDS }, (_, i) => uploadOf(`pp${i}`, 100));
    for (const u of ups) await store.uploads.createUploads([u], quota(u.userId));
    const calls = (who: string) => ups.map((u) => [u.id, part(1, 100, `${who}-${u.id}`), T0]);
    const [a, b] = await runInWorkers({ databaseUrl, method: 'uploads.putPart', callsPerWorker: [calls('A'), calls('B')] });
    for (const [i, u] of ups.entries()) {
      expect([label(a!.results[i]!), label(b!.results[i]!)]).toEqual(['ok', 'ok']);
      const outcomes = [a!.results[i]!, b!.results[i]!].map((o) => (o.ok ? (o.value as { replaced: PartRecord | null }) : null));
      const later = outcomes.findIndex((o) => o?.replaced !== null);
      expect(later, `round ${i}: exactly one replaced the other`).toBeGreaterThanOrEqual(0);
      expect(outcomes[1 - later]!.replaced).toBeNull();
      const earlierRef = `${later === 0 ? 'B' : 'A'}-${u.id}`;
      expect(outcomes[later]!.replaced!.ref).toBe(earlierRef);
      expect((await store.uploads.listParts(u.id)).map((p) => p.ref)).toEqual([`${later === 0 ? 'A' : 'B'}-${u.id}`]);
    }
  });
}

/**
 * The fence's guarantee under real parallelism: a part write registering while a completion
 * begins either is refused or is seen by the completion's count of live writes, which it
 * reads right after beginAssembly. A registration checked and written in two steps outside
 * the upload's row lock lets some completions count 0 while a write goes ahead.
 */
export function partWriteFenceRaceConformance(open: () => { store: MetadataStore; databaseUrl: string }): void {
  it('a part write registering while a completion begins: refused, or counted by the completion', async () => {
    const { store, databaseUrl } = open();
    const ROUNDS = 60;
    const ups = Array.from({ length: ROUNDS }, (_, i) => uploadOf(`pw${i}`, 100));
    for (const u of ups) await store.uploads.createUploads([u], quota(u.userId));
    const completions: Step[][] = ups.map((u) => [
      ['uploads.beginAssembly', u.id, `storage/${u.userId}/k`, T0, T0 + LEASE],
      ['uploads.livePartWrites', u.id, T0],
    ]);
    const writes: Step[][] = ups.map((u) => [['uploads.beginPartWrite', u.id, 'w', T0, T0 + 1000]]);
    const [a, b] = await raceScripts(databaseUrl, [completions, writes]);
    const seen = { registered: 0, refused: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const c = a![i]!;
      const w = b![i]!;
      expect([label(c), label(w)]).toEqual(['ok', 'ok']);
      const [began, live] = (c as { value: [boolean, number] }).value;
      const outcome = (w as { value: string[] }).value[0];
      expect(began, `round ${i}`).toBe(true);
      if (outcome === 'registered') {
        seen.registered++;
        expect(live, `round ${i}: the completion must count the write that registered`).toBe(1);
      } else {
        seen.refused++;
        expect(outcome).toBe('not_open');
        expect(live).toBe(0);
      }
    }
    expect(seen.registered + seen.refused).toBe(ROUNDS);
  });
}
