/**
 * Login throttling (docs/api.md, "Limits"): successful logins never count; failures are limited per
 * client address and per (username, address); a username guessed at from many addresses is
 * slowed down a little, never locked, so an attacker cannot keep its owner out.
 * Fixed windows (one minute). The per-username counts (username + address, and username alone)
 * go through the FailureCounts port: in memory for one instance, in the database when several
 * share it (src/db/pg/login-failures.ts), so N instances do not give an attacker N budgets.
 * The per-address count stays in each instance's memory: it guards that instance's hashing
 * threads, and a guessed username is limited by the shared counts whichever instance answers.
 */
import { RateLimited } from '../errors/index.js';

/** Failure counts per key in fixed windows. Keys are opaque text without NUL characters. */
export interface FailureCounts {
  /**
   * Counts one failure for `key` in its window (a window of `windowMs` opens when none is open
   * at `now`), unless `limit` failures are counted there already (null: no limit): then nothing
   * changes and the answer is how long until the window ends. One atomic step, so attempts
   * racing on any number of instances never count past the limit.
   */
  take(key: string, limit: number | null, windowMs: number, now: number): Promise<{ counted: true } | { counted: false; retryInMs: number }>;
  /** Failures counted for `key` in the window open at `now` (0 when none is). */
  count(key: string, now: number): Promise<number>;
  /** Takes one failure back (an attempt counted in advance that did not fail), in the window open at `now`. */
  forgive(key: string, now: number): Promise<void>;
  /** Forgets the key's window (a successful login). */
  reset(key: string): Promise<void>;
  /** Drops the windows that ended at or before `now`; returns how many. */
  prune(now: number): Promise<number>;
}

/** Beyond this many keys, expired windows are dropped, then the oldest ones. */
const MAX_KEYS = 100_000;

/** FailureCounts in this process's memory: each step is synchronous, hence atomic here. */
export class MemoryFailureCounts implements FailureCounts {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  /** Milliseconds until `key` may be counted again under `limit`, or 0 when it may be now. */
  blockedFor(key: string, limit: number, now: number): number {
    const w = this.windows.get(key);
    return w && w.resetAt > now && w.count >= limit ? w.resetAt - now : 0;
  }

  /** `take`, answered at once: for callers that must decide before anything else runs. */
  takeNow(key: string, limit: number | null, windowMs: number, now: number): { counted: true } | { counted: false; retryInMs: number } {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= MAX_KEYS) this.evict(now);
      this.windows.set(key, { count: 1, resetAt: now + windowMs });
      return { counted: true };
    }
    if (limit !== null && w.count >= limit) return { counted: false, retryInMs: w.resetAt - now };
    w.count += 1;
    return { counted: true };
  }

  async take(key: string, limit: number | null, windowMs: number, now: number): Promise<{ counted: true } | { counted: false; retryInMs: number }> {
    return this.takeNow(key, limit, windowMs, now);
  }

  async count(key: string, now: number): Promise<number> {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w.count : 0;
  }

  async forgive(key: string, now: number): Promise<void> {
    this.forgiveNow(key, now);
  }

  forgiveNow(key: string, now: number): void {
    const w = this.windows.get(key);
    if (w && w.resetAt > now && w.count > 0) w.count -= 1;
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  async prune(now: number): Promise<number> {
    const before = this.windows.size;
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    return before - this.windows.size;
  }

  private evict(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    // Still full of live windows: forget the oldest (a flood of fresh keys must not grow memory).
    for (const key of this.windows.keys()) {
      if (this.windows.size < MAX_KEYS) break;
      this.windows.delete(key);
    }
  }
}

/**
 * The key an address is counted under. IPv6 is counted per /64: that is what one subscriber
 * gets, and counting single addresses would give an attacker 2^64 fresh budgets.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [h = '', t] = ip.split('%')[0]!.split('::');
  const head = h ? h.split(':') : [];
  const tail = t ? t.split(':') : [];
  const groups = t === undefined ? head : [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

export interface LoginThrottleOptions {
  /** LOGIN_RATE_LIMIT: failures per (username, address) per window; an address alone gets 3×. */
  failuresPerWindow: number;
  windowMs?: number;
  /** Delay per failure for one username (from all addresses) beyond `failuresPerWindow`… */
  delayStepMs?: number;
  /** …up to this much. */
  maxDelayMs?: number;
  now?: () => number;
  /** Where the per-username counts live: shared by every instance on one database. Default: memory. */
  counts?: FailureCounts;
}

/** One login attempt, counted as a failure in advance; settle it exactly once. */
export interface LoginAttempt {
  /** Wait this long before checking the password (the username is under a guessing flood). */
  readonly delayMs: number;
  succeeded(): Promise<void>;
  failed(): Promise<void>;
  /** Neither (the hashing queue was full, an internal error): the attempt is taken back. */
  abandoned(): Promise<void>;
}

/** Keys as JSON arrays: unambiguous whatever a username holds, and never a NUL character. */
const pairKey = (user: string, net: string) => JSON.stringify(['pair', user, net]);
const userKey = (user: string) => JSON.stringify(['user', user]);

export class LoginThrottle {
  /** Per address, in this instance's memory. */
  private readonly address = new MemoryFailureCounts();
  /** Per (username, address), limited, and per username across addresses, counted only to slow down. */
  private readonly counts: FailureCounts;
  private readonly now: () => number;
  private readonly windowMs: number;

  constructor(private readonly opts: LoginThrottleOptions) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.counts = opts.counts ?? new MemoryFailureCounts();
    this.now = opts.now ?? Date.now;
  }

  /** Throws 429 when this address, or this address for this username, has failed too often. */
  async begin(username: string, ip: string): Promise<LoginAttempt> {
    const now = this.now();
    const user = username.toLowerCase();
    const net = addressKey(ip);
    const addressLimit = this.opts.failuresPerWindow * 3;
    const addressWait = this.address.blockedFor(net, addressLimit, now);
    if (addressWait > 0) throw new RateLimited(addressWait / 1000);
    // Counted before the password is checked and taken back on success: concurrent guesses,
    // on this instance or any other, cannot all slip in while the first is still being hashed.
    const pair = pairKey(user, net);
    const [byPair, userFailures] = await Promise.all([
      this.counts.take(pair, this.opts.failuresPerWindow, this.windowMs, now),
      this.counts.count(userKey(user), now),
    ]);
    if (!byPair.counted) throw new RateLimited(byPair.retryInMs / 1000);
    const byAddress = this.address.takeNow(net, addressLimit, this.windowMs, this.now());
    if (!byAddress.counted) {
      // The address filled up while the pair was being counted: that count is taken back.
      await this.counts.forgive(pair, this.now());
      throw new RateLimited(byAddress.retryInMs / 1000);
    }
    const excess = userFailures - this.opts.failuresPerWindow;
    const delayMs = excess > 0 ? Math.min(this.opts.maxDelayMs ?? 1000, excess * (this.opts.delayStepMs ?? 50)) : 0;
    let settled = false;
    const once = (fn: () => Promise<void>) => async () => {
      if (settled) return;
      settled = true;
      await fn();
    };
    return {
      delayMs,
      succeeded: once(async () => {
        this.address.forgiveNow(net, this.now());
        await this.counts.reset(pair);
      }),
      failed: once(async () => {
        await this.counts.take(userKey(user), null, this.windowMs, this.now());
      }),
      abandoned: once(async () => {
        this.address.forgiveNow(net, this.now());
        await this.counts.forgive(pair, this.now());
      }),
    };
  }

  /** Housekeeping: forgets windows that have ended (the shared ones too). */
  async prune(now = this.now()): Promise<number> {
    return (await this.counts.prune(now)) + (await this.address.prune(now));
  }
}
