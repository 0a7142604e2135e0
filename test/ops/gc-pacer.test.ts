/**
 * The GC pacer (STREAM_GC_MB): a minor collection once external memory has grown by a step,
 * a full one once what survives minor collections has grown by four steps, nothing otherwise.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGcPacer, type GcPacer } from '../../src/ops/gc-pacer.js';

const MiB = 1024 * 1024;
const tick = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let pacer: GcPacer | undefined;
afterEach(() => pacer?.stop());

describe('GC pacer with a scripted external-memory figure', () => {
  it('collects once per step of growth, and not while memory holds still or shrinks', async () => {
    let external = 10 * MiB;
    const calls: string[] = [];
    // A minor collection frees what the script says is garbage: back to 10 MiB.
    pacer = startGcPacer({ stepBytes: 8 * MiB, intervalMs: 5, externalBytes: () => external, collect: (t) => (calls.push(t), (external = 10 * MiB)) });
    external = 17 * MiB; // +7: under a step
    await tick();
    expect(calls).toEqual([]);
    external = 18 * MiB; // +8: one step
    await tick();
    expect(calls).toEqual(['minor']);
    external = 4 * MiB; // V8 collected on its own: nothing to do
    await tick();
    expect(calls).toEqual(['minor']);
    expect(pacer.collections).toEqual({ minor: 1, major: 0 });
  });

  it('runs a full collection when minor ones leave survivors four steps above the last floor', async () => {
    let external = 0;
    const calls: string[] = [];
    // Minor collections free nothing here (buffers promoted while queued); a full one frees all.
    pacer = startGcPacer({ stepBytes: 8 * MiB, intervalMs: 5, externalBytes: () => external, collect: (t) => (calls.push(t), t === 'major' && (external = 0)) });
    for (const mib of [8, 16, 24]) {
      external = mib * MiB;
      await tick();
    }
    expect(calls).toEqual(['minor', 'minor', 'minor']);
    external = 32 * MiB;
    await tick();
    expect(calls).toEqual(['minor', 'minor', 'minor', 'minor', 'major']);
    expect(pacer.collections).toEqual({ minor: 4, major: 1 });
  });

  it('with majorSteps: 1, a full collection as soon as survivors grow by one step', async () => {
    let external = 0;
    const calls: string[] = [];
    pacer = startGcPacer({ stepBytes: 8 * MiB, majorSteps: 1, intervalMs: 5, externalBytes: () => external, collect: (t) => (calls.push(t), t === 'major' && (external = 0)) });
    external = 8 * MiB;
    await tick();
    expect(calls).toEqual(['minor', 'major']);
    external = 4 * MiB;
    await tick();
    expect(pacer.collections).toEqual({ minor: 1, major: 1 });
  });

  it('stops', async () => {
    let external = 0;
    let calls = 0;
    pacer = startGcPacer({ stepBytes: MiB, intervalMs: 5, externalBytes: () => external, collect: () => void calls++ });
    pacer.stop();
    external = 100 * MiB;
    await tick();
    expect(calls).toBe(0);
  });
});

describe('GC pacer with V8', () => {
  it('keeps discarded buffers from piling up: far below the ~32 MB V8 lets grow on its own', async () => {
    pacer = startGcPacer({ stepBytes: 4 * MiB, intervalMs: 2 });
    let peak = 0;
    // 512 MiB of 64 KiB buffers, each dropped at once, as socket reads are: ~1 MiB per turn.
    for (let i = 0; i < 512; i++) {
      for (let j = 0; j < 16; j++) Buffer.allocUnsafeSlow(64 * 1024).fill(j);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(pacer.collections.minor).toBeGreaterThan(0);
    expect(peak).toBeLessThan(24 * MiB);
  });
});
