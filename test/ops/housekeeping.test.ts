/**
 * Housekeeping across instances: only the holder of the 'housekeeping' lease runs the jobs.
 * Two housekeepers stand for two instances, each with its own connection to one SQLite file;
 * time is a ManualClock, so lapses are reached by moving it, not by waiting.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore } from '../../src/db/types.js';
import { HOUSEKEEPING_LEASE, Housekeeper, startHousekeeping, type HousekeepingJob } from '../../src/ops/housekeeping.js';
import { ManualClock } from '../../src/util/clock.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');

describe('Housekeeper', () => {
  let dir: string;
  let first: MetadataStore;
  let second: MetadataStore;
  let clock: ManualClock;
  let ran: string[];
  let logged: string[];
  const log = { error: (_obj: unknown, msg: string) => void logged.push(msg) };
  const recording = (who: string): HousekeepingJob[] => [{ name: 'job', run: async (now) => void ran.push(`${who}@${now - T0}`) }];
  const instance = (store: MetadataStore, who: string, jobs = recording(who)) =>
    new Housekeeper({ leases: store.leases, jobs, everyMs: 1000, log, clock, holder: who });

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-hk-'));
    const databaseUrl = `sqlite:${path.join(dir, 'metadata.sqlite')}`;
    first = await openMetadataStore({ databaseUrl });
    second = await openMetadataStore({ databaseUrl });
    clock = new ManualClock(T0);
    ran = [];
    logged = [];
  });
  afterEach(async () => {
    await first.close();
    await second.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('only the holder runs the jobs; another instance takes over when the lease lapses, or at once on stop', async () => {
    const a = instance(first, 'a');
    const b = instance(second, 'b');
    expect(a.ttlMs).toBe(3000);
    expect(await a.tick()).toBe('ran');
    expect(await b.tick()).toBe('not_holder');
    clock.advance(1000);
    expect(await a.tick()).toBe('ran'); // renewed until T0 + 4000
    expect(await b.tick()).toBe('not_holder');
    // a dies (stops ticking without releasing): b waits out the lease a renewed last.
    clock.advance(2999);
    expect(await b.tick()).toBe('not_holder');
    clock.advance(1);
    expect(await b.tick()).toBe('ran');
    expect(await a.tick()).toBe('not_holder'); // a, back, finds it taken
    // b shuts down: it releases, and a takes over on its next tick, without waiting.
    clock.advance(10);
    await b.stop();
    expect(await second.leases.holder(HOUSEKEEPING_LEASE, clock.now())).toBeNull();
    expect(await a.tick()).toBe('ran');
    expect(ran).toEqual(['a@0', 'a@1000', 'b@4000', 'a@4010']);
    expect(logged).toEqual([]);
  });

  it('a failing job (even one that throws at once) is logged by name and the others still run', async () => {
    const jobs: HousekeepingJob[] = [
      { name: 'upload sweep', run: () => { throw new Error('disk gone'); } },
      { name: 'token prune', run: async () => void ran.push('prune') },
    ];
    expect(await instance(first, 'a', jobs).tick()).toBe('ran');
    expect(logged).toEqual(['upload sweep failed']);
    expect(ran).toEqual(['prune']);
  });

  it('when the lease cannot be taken (database down) nothing runs, and the failure is logged', async () => {
    const a = instance(first, 'a');
    await first.close();
    expect(await a.tick()).toBe('not_holder');
    expect(ran).toEqual([]);
    expect(logged).toEqual(['housekeeping lease failed']);
  });

  it('the jobs run side by side: a slow one does not hold back the others', async () => {
    let finish!: () => void;
    const jobs: HousekeepingJob[] = [
      { name: 'slow sweep', run: () => new Promise<void>((resolve) => (finish = resolve)).then(() => void ran.push('sweep')) },
      { name: 'prune', run: async () => void ran.push('prune') },
    ];
    const tick = instance(first, 'a', jobs).tick();
    await vi.waitFor(() => expect(ran).toEqual(['prune']));
    finish();
    expect(await tick).toBe('ran');
    expect(ran).toEqual(['prune', 'sweep']);
  });

  it('a tick while the last one is still running answers busy; stop() waits for it and releases', async () => {
    let finish!: () => void;
    const jobs: HousekeepingJob[] = [{ name: 'long', run: () => new Promise<void>((resolve) => (finish = resolve)) }];
    const a = instance(first, 'a', jobs);
    const running = a.tick();
    await vi.waitFor(() => expect(finish).toBeTypeOf('function'));
    expect(await a.tick()).toBe('busy');
    let stopped = false;
    const stopping = a.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    expect(await first.leases.holder(HOUSEKEEPING_LEASE, clock.now())).toBe('a');
    finish();
    expect(await running).toBe('ran');
    await stopping;
    expect(await first.leases.holder(HOUSEKEEPING_LEASE, clock.now())).toBeNull();
  });
});

describe('startHousekeeping', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("ticks every quarter of the upload expiry: the upload sweep, the token prune, the batch prune at the clock's second", async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const store = await openMetadataStore({ databaseUrl: ':memory:' });
    const clock = new ManualClock(T0 + 1500);
    const calls: string[] = [];
    const ctx = {
      config: { uploads: { expirySeconds: 8 } },
      uploads: { sweep: async () => void calls.push('sweep') },
      sessions: { pruneExpired: async () => void calls.push('prune tokens') },
      store: { leases: store.leases, batches: { pruneBatches: async (now: number) => void calls.push(`prune batches before ${now}`) } },
    } as unknown as Parameters<typeof startHousekeeping>[0];
    const housekeeper = startHousekeeping(ctx, { error: () => undefined }, clock);
    try {
      expect(housekeeper.ttlMs).toBe(6000);
      await vi.advanceTimersByTimeAsync(1999);
      expect(calls).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await vi.waitFor(() => expect(calls).toHaveLength(3));
      expect(calls).toEqual(['sweep', 'prune tokens', `prune batches before ${Math.floor((T0 + 1500) / 1000)}`]);
      await vi.advanceTimersByTimeAsync(2000);
      await vi.waitFor(() => expect(calls).toHaveLength(6));
      await housekeeper.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(calls).toHaveLength(6); // stopped: no more ticks
    } finally {
      await housekeeper.stop();
      await store.close();
    }
  });
});
