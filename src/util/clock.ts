/**
 * Time, injectable: services take a Clock instead of calling Date.now(), so tests move time
 * forward (expiry, leases, orphan ages) instead of sleeping.
 */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to (tests, and anything replaying a fixed instant). */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}
