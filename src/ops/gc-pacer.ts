/**
 * Collects the garbage that streaming leaves behind before it piles up.
 *
 * Every socket read hands JavaScript a fresh 64 KiB buffer, every file read stream a fresh
 * one of its own; once passed on they are garbage, but their bytes live outside V8's heap,
 * and V8 collects them only when the young generation fills (a few thousand small objects
 * later) or when external memory has grown by ~32 MB. Measured on a bare Node pipe taking
 * 1 GiB: buffers waiting for collection peaked at 33 MB, RSS at 87 MB from 46 idle; with a
 * minor collection (a scavenge: ~0.25 ms with 2 MiB semi-spaces) each time 8 MiB of new
 * external memory appeared, they peaked at 9 MB, RSS at 63 MB, for 32 ms of collections per
 * GiB.
 *
 * The pacer looks at V8's external-memory figure (0.6 µs) every `intervalMs` and runs a
 * minor collection when it has grown by `stepBytes` since the last one. Memory still in use
 * only raises the baseline: the next collection waits for `stepBytes` more.
 *
 * A buffer still queued on a socket or a file when two minor collections pass is moved to the
 * old generation, where only a full collection frees it: downloads, whose buffers wait in the
 * socket's queue, piled such garbage up (a 2 GiB download peaked 12 MB higher with minor
 * collections alone). So when what survives minor collections has grown by `majorSteps ×
 * stepBytes` (default 4) since the last full collection, a full one runs (a few ms on our
 * ~30 MB heap). The S3 store's reads pile such garbage up faster: every 64 KiB it reads
 * arrives as two fresh buffers (the socket's and the HTTP parser's copy), some of them alive
 * at each collection; there a full collection every step kept a 10 × 100 MiB ZIP's peak at
 * 134–148 MB, against 158–181 MB with four.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface GcPacerOptions {
  /** New external memory (bytes) that triggers a minor collection. */
  stepBytes: number;
  /** Survivors' growth (in steps) since the last full collection that triggers another (default 4). */
  majorSteps?: number;
  /** How often the figure is looked at. */
  intervalMs?: number;
  /** For tests: the collector and the figure. */
  collect?: (type: 'minor' | 'major') => void;
  externalBytes?: () => number;
}

export interface GcPacer {
  /** Collections run so far. */
  readonly collections: { minor: number; major: number };
  stop(): void;
}

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/**
 * V8's `gc` function without starting Node with --expose-gc: the flag is set only for the
 * moment a new context is made, so no other script ever sees a global `gc`.
 */
function collector(): (type: 'minor' | 'major') => void {
  v8.setFlagsFromString('--expose-gc');
  try {
    const gc = vm.runInNewContext('gc') as GcFunction;
    return (type) => gc({ type });
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

const externalMemory = (): number => v8.getHeapStatistics().external_memory;

export function startGcPacer(opts: GcPacerOptions): GcPacer {
  const collect = opts.collect ?? collector();
  const external = opts.externalBytes ?? externalMemory;
  let baseline = external(); // after the last collection of either kind
  let floor = baseline; // after the last full collection
  let minor = 0;
  let major = 0;
  const timer = setInterval(() => {
    const now = external();
    if (now < baseline) {
      baseline = now; // V8 collected on its own
      floor = Math.min(floor, now);
    } else if (now - baseline >= opts.stepBytes) {
      collect('minor');
      minor++;
      baseline = external();
      if (baseline - floor >= (opts.majorSteps ?? 4) * opts.stepBytes) {
        collect('major');
        major++;
        baseline = floor = external();
      }
    }
  }, opts.intervalMs ?? 10);
  timer.unref(); // never keeps the process alive
  return {
    get collections() {
      return { minor, major };
    },
    stop: () => clearInterval(timer),
  };
}
