/**
 * Races between different instances' calls on PostgreSQL, beyond the conformance suite's
 * (whose workers all call one method, and whose quota rounds each start a new user, where
 * the ledger row's first INSERT alone already orders them). Two worker threads, each a store
 * with its own pool (pg-race-worker.mjs), run one short script per round, started together:
 * a part against a completion, an expiry sweep against a part, a finish against the reclaim
 * of its lapsed lease, an init against a one-request upload on a user with a ledger row, a
 * file deleted twice. Each case fails against the check-then-write version of its method.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore, PartRecord, QuotaCheck } from '../../src/db/types.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { fileOf, uploadOf } from './fixtures.js';
import { label, raceScripts, type Outcome, type Step } from './parallel.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const LEASE = 60_000;
const quota = (userId: string): QuotaCheck => ({ userId, defaultQuotaBytes: 1000 });
const part = (ref: string): PartRecord => ({ partNumber: 1, size: 100, sha256: 'a'.repeat(64), ref });


/** The values of a round's steps; fails the test with the error when the round threw. */
function values(o: Outcome): unknown[] {
  if (!o.ok) throw new Error(`a round threw: ${label(o)}`);
  return o.value as unknown[];
}

describePostgres('PostgreSQL: races between instances on uploads, files and the quota', () => {
  let store: MetadataStore;
  let databaseUrl: string;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    const schema = await freshSchema('race');
    databaseUrl = schema.url;
    drop = schema.drop;
    store = await openMetadataStore({ databaseUrl, databasePoolMax: 4 });
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('an init and a one-request upload of 60% each, for a user who already has a ledger row: exactly one fits', async () => {
    const n = 300;
    const users = Array.from({ length: n }, (_, i) => `q${i}`);
    for (const u of users) await store.files.insertFile(fileOf(u, '', 0), quota(u));
    const inits = users.map((u): Step[] => [['uploads.createUploads', Array.from({ length: 30 }, () => uploadOf(u, 20)), quota(u)]]);
    const puts = users.map((u): Step[] => [['files.insertFile', fileOf(u, '', 600), quota(u)]]);
    const [a, b] = await raceScripts(databaseUrl, [inits, puts]);
    for (const [i, u] of users.entries()) {
      expect([label(a![i]!), label(b![i]!)].sort(), `round ${i}`).toEqual(['QuotaExceeded:quota_exceeded', 'ok']);
      const usage = await store.files.usage(u);
      expect(usage.usedBytes + usage.reservedBytes).toBe(600);
      expect(usage.fileCount + usage.openUploads).toBe(a![i]!.ok ? 31 : 2);
    }
  });

  it('a part racing the completion: recorded before the upload left open (and the completion lists it) or refused', async () => {
    const n = 300;
    const ups = Array.from({ length: n }, (_, i) => uploadOf(`p${i}`, 100, { updatedAt: T0 }));
    for (const u of ups) await store.uploads.createUploads([u], quota(u.userId));
    const parts = ups.map((u): Step[] => [['uploads.putPart', u.id, part(`late-${u.id}`), T0 + 1]]);
    const completions = ups.map((u): Step[] => [['uploads.beginAssembly', u.id, `storage/${u.userId}/k`, T0 + 2, T0 + LEASE], ['uploads.listParts', u.id]]);
    const [a, b] = await raceScripts(databaseUrl, [parts, completions]);
    const seen = { recorded: 0, not_open: 0 };
    for (const [i, u] of ups.entries()) {
      const [put] = values(a![i]!) as [{ outcome: 'recorded' | 'not_open' }];
      const [began, listed] = values(b![i]!) as [boolean, PartRecord[]];
      expect(began).toBe(true);
      seen[put.outcome]++;
      // What the completion read after beginning is what stays: nothing lands once it began.
      expect(listed.map((p) => p.ref), `round ${i}: ${put.outcome}`).toEqual(put.outcome === 'recorded' ? [`late-${u.id}`] : []);
      expect(await store.uploads.listParts(u.id)).toEqual(listed);
    }
    expect(seen.recorded + seen.not_open).toBe(n);
  });

  it('an expiry sweep racing a part: the part lands and the upload is kept, or the upload goes and the part is not_found', async () => {
    const n = 300;
    const ups = Array.from({ length: n }, (_, i) => uploadOf(`s${i}`, 100, { updatedAt: 1000 }));
    for (const u of ups) await store.uploads.createUploads([u], quota(u.userId));
    const parts = ups.map((u): Step[] => [['uploads.putPart', u.id, part(`r-${u.id}`), 5000]]);
    const sweeps = ups.map((u): Step[] => [['uploads.deleteUpload', u.id, { states: ['open', 'completed'], idleBefore: 2000 }]]);
    const [a, b] = await raceScripts(databaseUrl, [parts, sweeps]);
    for (const [i, u] of ups.entries()) {
      const [put] = values(a![i]!) as [{ outcome: string }];
      const [swept] = values(b![i]!) as [{ outcome: string }];
      expect([put.outcome, swept.outcome], `round ${i}`).toEqual(put.outcome === 'recorded' ? ['recorded', 'kept'] : ['not_found', 'deleted']);
      const kept = put.outcome === 'recorded';
      expect(await store.uploads.listParts(u.id)).toEqual(kept ? [part(`r-${u.id}`)] : []);
      expect(await store.files.usage(u.userId)).toMatchObject({ reservedBytes: kept ? 100 : 0, openUploads: kept ? 1 : 0 });
    }
  });

  it('a finish racing the reclaim of its lapsed lease: exactly one of them happens, with its ledger', async () => {
    const n = 300;
    const ups = Array.from({ length: n }, (_, i) => uploadOf(`f${i}`, 100));
    const files = ups.map((u) => fileOf(u.userId, '', 100));
    for (const [i, u] of ups.entries()) {
      await store.uploads.createUploads([u], quota(u.userId));
      await store.uploads.putPart(u.id, part('r'), T0);
      expect(await store.uploads.beginAssembly(u.id, files[i]!.key, T0, T0 + LEASE)).toBe(true);
    }
    const finishes = ups.map((u, i): Step[] => [['uploads.finishAssembly', u.id, files[i]]]);
    const reclaims = ups.map((u, i): Step[] => [['uploads.reclaimAssembly', u.id, files[i]!.key, T0 + LEASE]]);
    const [a, b] = await raceScripts(databaseUrl, [finishes, reclaims]);
    for (const [i, u] of ups.entries()) {
      const [finished] = values(a![i]!) as [boolean];
      const [reclaimed] = values(b![i]!) as [boolean];
      expect([finished, reclaimed].sort(), `round ${i}`).toEqual([false, true]);
      expect(await store.uploads.getUpload(u.id)).toMatchObject({ state: finished ? 'completed' : 'open' });
      expect(await store.files.getFile(files[i]!.key)).toEqual(finished ? files[i] : null);
      expect(await store.files.usage(u.userId)).toEqual(
        finished ? { usedBytes: 100, reservedBytes: 0, fileCount: 1, openUploads: 0 } : { usedBytes: 0, reservedBytes: 100, fileCount: 0, openUploads: 1 },
      );
    }
  });

  it('two completions beginning at once: one holds the upload', async () => {
    const n = 300;
    const ups = Array.from({ length: n }, (_, i) => uploadOf(`c${i}`, 100));
    for (const u of ups) await store.uploads.createUploads([u], quota(u.userId));
    const begin = (who: string) => ups.map((u): Step[] => [['uploads.beginAssembly', u.id, `storage/${u.userId}/${who}`, T0, T0 + LEASE]]);
    const [a, b] = await raceScripts(databaseUrl, [begin('A'), begin('B')]);
    for (const [i, u] of ups.entries()) {
      const [wonA] = values(a![i]!) as [boolean];
      const [wonB] = values(b![i]!) as [boolean];
      expect(wonA, `round ${i}`).toBe(!wonB);
      expect((await store.uploads.getUpload(u.id))!.fileKey).toBe(`storage/${u.userId}/${wonA ? 'A' : 'B'}`);
    }
  });

  it('one file deleted on two instances at once: one gets the record, and the ledger drops once', async () => {
    const n = 300;
    const files = Array.from({ length: n }, (_, i) => fileOf(`d${i}`, '', 100));
    for (const f of files) await store.files.insertFile(f, quota(f.userId));
    const del = files.map((f): Step[] => [['files.deleteFile', f.key]]);
    const [a, b] = await raceScripts(databaseUrl, [del, del]);
    for (const [i, f] of files.entries()) {
      const got = [values(a![i]!)[0], values(b![i]!)[0]];
      expect(got.filter((x) => x !== null), `round ${i}`).toEqual([f]);
      expect(await store.files.usage(f.userId)).toEqual({ usedBytes: 0, reservedBytes: 0, fileCount: 0, openUploads: 0 });
    }
  });
});
