/**
 * Login throttling (docs/api.md, "Limits"): successful logins never count; failures are limited per
 * client address and per (username, address); a username guessed at from many addresses is
 * slowed down a little, never locked, so an attacker cannot keep its owner out.
 * Fixed one-minute windows, in memory.
 */
import { RateLimited } from '../errors/index.js';

/** Beyond this many keys, expired windows are dropped, then the oldest ones. */
const MAX_KEYS = 100_000;

/** Failure counts per key in fixed windows. */
export class FailureThrottle {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  blockedFor(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return 0;
    return w.count >= this.maxFailures ? w.resetAt - now : 0;
  }

  /** Failures counted for `key` in the current window. */
  count(key: string, now = Date.now()): number {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w.count : 0;
  }

  recordFailure(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= MAX_KEYS) this.prune(now);
      this.windows.set(key, { count: 1, resetAt: now + this.windowMs });
    } else {
      w.count += 1;
    }
  }

  /** Takes one failure back (an attempt counted in advance that did not fail). */
  forgive(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (w && w.resetAt > now && w.count > 0) w.count -= 1;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  private prune(now: number): void {
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
}

/** One login attempt, counted as a failure in advance; settle it exactly once. */
export interface LoginAttempt {
  /** Wait this long before checking the password (the username is under a guessing flood). */
  readonly delayMs: number;
  succeeded(): void;
  failed(): void;
  /** Neither (the hashing queue was full, an internal error): the attempt is taken back. */
  abandoned(): void;
}

export class LoginThrottle {
  private readonly pair: FailureThrottle;
  private readonly address: FailureThrottle;
  /** Per username across addresses: never blocks, only slows down. */
  private readonly account: FailureThrottle;
  private readonly now: () => number;

  constructor(private readonly opts: LoginThrottleOptions) {
    const windowMs = opts.windowMs ?? 60_000;
    this.pair = new FailureThrottle(opts.failuresPerWindow, windowMs);
    this.address = new FailureThrottle(opts.failuresPerWindow * 3, windowMs);
    this.account = new FailureThrottle(Number.POSITIVE_INFINITY, windowMs);
    this.now = opts.now ?? Date.now;
  }

  /** Throws 429 when this address, or this address for this username, has failed too often. */
  begin(username: string, ip: string): LoginAttempt {
    const now = this.now();
    const user = username.toLowerCase();
    const net = addressKey(ip);
    const pairKey = `${user}\u0000${net}`;
    const wait = Math.max(this.pair.blockedFor(pairKey, now), this.address.blockedFor(net, now));
    if (wait > 0) throw new RateLimited(wait / 1000);
    // Counted before the password is checked and taken back on success: concurrent guesses
    // cannot all slip in while the first of them is still being hashed.
    this.pair.recordFailure(pairKey, now);
    this.address.recordFailure(net, now);
    const excess = this.account.count(user, now) - this.opts.failuresPerWindow;
    const delayMs = excess > 0 ? Math.min(this.opts.maxDelayMs ?? 1000, excess * (this.opts.delayStepMs ?? 50)) : 0;
    let settled = false;
    const once = (fn: () => void) => () => {
      if (settled) return;
      settled = true;
      fn();
    };
    return {
      delayMs,
      succeeded: once(() => {
        this.pair.reset(pairKey);
        this.address.forgive(net, this.now());
      }),
      failed: once(() => this.account.recordFailure(user, this.now())),
      abandoned: once(() => {
        this.pair.forgive(pairKey, this.now());
        this.address.forgive(net, this.now());
      }),
    };
  }
}
