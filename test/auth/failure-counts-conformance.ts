/**
 * The FailureCounts contract (src/auth/throttle.ts), for every implementation: memory for one
 * instance, the database for many. Run from a *.test.ts with a factory giving an empty store;
 * a store that instances share also names an opener module, so task threads open it on their
 * own connections and race on one key where instances would race: in the store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FailureCounts } from '../../src/auth/throttle.js';
import { runTask, values } from './parallel-tasks.js';

export interface FailureCountsHarness {
  counts: FailureCounts;
  /** For shared stores: a module exporting `openFailureCounts(options)`, run in task threads. */
  opener?: { module: string; options: unknown };
  cleanup(): Promise<void>;
}

const TASK = new URL('./tasks/failure-counts.mjs', import.meta.url);
const WINDOW = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');

/** `caps.shared`: instances share the store (it must give an opener); its races then run in threads. */
export function failureCountsConformance(name: string, open: () => Promise<FailureCountsHarness>, caps: { shared: boolean }): void {
  describe(`FailureCounts conformance: ${name}`, () => {
    let h: FailureCountsHarness;
    let counts: FailureCounts;
    beforeEach(async () => {
      h = await open();
      counts = h.counts;
    });
    afterEach(async () => h.cleanup());

    it('counts up to the limit, then refuses with the time left in the window; keys are counted apart', async () => {
      for (let i = 0; i < 3; i++) expect(await counts.take('k', 3, WINDOW, T0 + i)).toEqual({ counted: true });
      expect(await counts.count('k', T0 + 10)).toBe(3);
      expect(await counts.take('k', 3, WINDOW, T0 + 30)).toEqual({ counted: false, retryInMs: WINDOW - 30 });
      expect(await counts.count('k', T0 + 31)).toBe(3); // a refused attempt is not counted
      expect(await counts.take('other', 3, WINDOW, T0 + 30)).toEqual({ counted: true });
      expect(await counts.count('other', T0 + 30)).toBe(1);
    });

    it('a window ends at exactly its end: the next failure opens a new one, counted from one', async () => {
      for (let i = 0; i < 2; i++) await counts.take('k', 2, WINDOW, T0);
      expect(await counts.take('k', 2, WINDOW, T0 + WINDOW - 1)).toEqual({ counted: false, retryInMs: 1 });
      expect(await counts.count('k', T0 + WINDOW)).toBe(0);
      expect(await counts.take('k', 2, WINDOW, T0 + WINDOW)).toEqual({ counted: true });
      expect(await counts.count('k', T0 + WINDOW)).toBe(1);
      // The new window runs from its first failure.
      expect(await counts.take('k', 2, WINDOW, T0 + WINDOW + 5)).toEqual({ counted: true });
      expect(await counts.take('k', 2, WINDOW, T0 + WINDOW + 6)).toEqual({ counted: false, retryInMs: WINDOW - 6 });
    });

    it('no limit counts every failure; keys hold any text (a NUL, quotes, 300 characters)', async () => {
      for (let i = 0; i < 25; i++) expect(await counts.take('free', null, WINDOW, T0)).toEqual({ counted: true });
      expect(await counts.count('free', T0)).toBe(25);
      const odd = JSON.stringify(['pair', `a\u0000'"${'é'.repeat(300)}`, '::/64']);
      await counts.take(odd, 1, WINDOW, T0);
      expect(await counts.take(odd, 1, WINDOW, T0)).toMatchObject({ counted: false });
      expect(await counts.count(odd, T0)).toBe(1);
    });

    it('forgive takes one back within the window, never below zero, never in an ended one; reset forgets', async () => {
      await counts.take('k', 2, WINDOW, T0);
      await counts.take('k', 2, WINDOW, T0);
      await counts.forgive('k', T0 + 1);
      expect(await counts.take('k', 2, WINDOW, T0 + 2)).toEqual({ counted: true });
      await counts.forgive('k', T0 + 3);
      await counts.forgive('k', T0 + 3);
      await counts.forgive('k', T0 + 3);
      expect(await counts.count('k', T0 + 3)).toBe(0);
      await counts.forgive('never', T0);
      expect(await counts.count('never', T0)).toBe(0);
      await counts.take('k', 2, WINDOW, T0 + 4);
      await counts.reset('k');
      expect(await counts.count('k', T0 + 5)).toBe(0);
      await counts.take('k', 2, WINDOW, T0 + 6);
      await counts.take('k', 2, WINDOW, T0 + 6);
      await counts.forgive('k', T0 + 6 + WINDOW); // that window has ended: nothing to take back…
      expect(await counts.take('k', 2, WINDOW, T0 + 6 + WINDOW - 1)).toMatchObject({ counted: false }); // …as seen by a clock 1 ms behind
    });

    it('prune drops the windows ended at or before a time, and only those', async () => {
      await counts.take('old', 5, WINDOW, T0);
      await counts.take('young', 5, WINDOW, T0 + 1000);
      expect(await counts.prune(T0 + WINDOW - 1)).toBe(0);
      expect(await counts.prune(T0 + WINDOW)).toBe(1);
      // `count` at an earlier time would still see a window that was kept, never one pruned.
      expect(await counts.count('old', T0)).toBe(0);
      expect(await counts.count('young', T0 + 1000)).toBe(1);
    });

    if (!caps.shared) return;
    it('instances counting one key at once never count past the limit (task threads, own connections)', async () => {
      if (!h.opener) throw new Error(`${name}: a shared store must give an opener`);
      const threads = 4;
      const rounds = 40;
      const limit = 5;
      // Each thread makes 4 attempts per round on that round's key: 16 race for 5 places.
      const args = Array.from({ length: threads }, () => ({ opener: h.opener, rounds, attempts: 4, limit, window: WINDOW, now: T0 }));
      const perThread = values<boolean[][]>(await runTask(TASK, args));
      for (let r = 0; r < rounds; r++) {
        const counted = perThread.flatMap((t) => t[r]!).filter(Boolean).length;
        expect(counted, `round ${r}`).toBe(limit);
        expect(await counts.count(`race-${r}`, T0)).toBe(limit);
      }
    });
  });
}
