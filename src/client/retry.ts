/**
 * When to try a request again, and how long to wait first: exponential backoff with full
 * jitter on network errors, 5xx and 429, honouring Retry-After; never on any other 4xx (the
 * same request would fail the same way).
 */
import { StreamLineError } from './errors.js';

export interface RetryPolicy {
  /** Tries after the first (default 4). 0 turns retrying off. */
  retries: number;
  /** Backoff before the first retry, in ms (default 250); doubled each time, with full jitter. */
  minDelayMs: number;
  /** Longest backoff between tries, in ms (default 10,000). */
  maxDelayMs: number;
  /** A Retry-After longer than this (ms, default 60,000) is not waited for: the error is thrown. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, minDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/** Is this failure worth another try? Network errors, 5xx, 429 (and 408: the server timed the body out). */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof StreamLineError)) return false;
  return err.status === 0 || err.status >= 500 || err.status === 429 || err.status === 408;
}

/**
 * How long to wait before retry number `attempt` (1-based), or null to give up. A Retry-After
 * from the server wins over the backoff (plus up to 10 % jitter, so that clients told the
 * same second do not all come back in the same millisecond).
 */
export function retryDelay(policy: RetryPolicy, attempt: number, err: StreamLineError, random = Math.random): number | null {
  if (attempt > policy.retries) return null;
  if (err.retryAfterSeconds !== undefined) {
    const ms = err.retryAfterSeconds * 1000;
    if (ms > policy.maxRetryAfterMs) return null;
    return ms + random() * ms * 0.1;
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (attempt - 1));
  return random() * ceiling;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
