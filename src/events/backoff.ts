/**
 * When a failed delivery is tried again: after about 5 s, then 30 s, then doubling (1 min,
 * 2 min, … capped at 6 h between tries), for 24 h from the event; an attempt that fails past
 * that gives up ('failed'). ±10 % jitter spreads retries that failed together.
 */
export const RETRY_FOR_MS = 24 * 3600_000;
const FIRST = [5_000, 30_000];
const CAP_MS = 6 * 3600_000;

/** Delay before attempt `failures + 1`, `failures` ≥ 1 (the attempts that failed so far). */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = failures <= FIRST.length ? FIRST[failures - 1]! : Math.min(CAP_MS, 30_000 * 2 ** (failures - FIRST.length));
  return Math.round(base * (0.9 + 0.2 * random()));
}

/** The next attempt's time, or null when the event's 24 h are over. */
export function nextAttemptAt(createdAt: number, failures: number, now: number, random?: () => number): number | null {
  if (now - createdAt >= RETRY_FOR_MS) return null;
  return Math.min(now + retryDelayMs(failures, random), createdAt + RETRY_FOR_MS);
}
