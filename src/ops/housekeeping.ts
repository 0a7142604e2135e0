/**
 * Periodic housekeeping: the sweep of expired uploads, and the pruning of revocation rows and
 * batch tokens past their expiry. With several instances on one database, only the one that
 * holds the 'housekeeping' lease does it on a tick; the others skip, and take over within a
 * lease's ttl when the holder stops renewing (it died) or at once when it shuts down (it
 * releases). The jobs are safe to overlap (each step is a conditional write), so a tick that
 * outlasts the lease, letting another instance start, costs only duplicated work.
 */
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { LeaseStore } from '../db/types.js';
import { systemClock, type Clock } from '../util/clock.js';

/** This process's name as a lease holder: random, made once per process. */
export const INSTANCE_ID = randomUUID();

export const HOUSEKEEPING_LEASE = 'housekeeping';

export interface HousekeepingJob {
  /** Logged as "<name> failed" when the job throws. */
  name: string;
  run(now: number): Promise<unknown>;
}

export interface HousekeeperOptions {
  leases: LeaseStore;
  jobs: HousekeepingJob[];
  everyMs: number;
  log: { error(obj: unknown, msg: string): void };
  clock?: Clock;
  /** Default INSTANCE_ID; tests give two housekeepers in one process two names. */
  holder?: string;
}

/** What a tick did: ran the jobs, left them to the lease's holder, or found the last tick still running. */
export type TickResult = 'ran' | 'not_holder' | 'busy';

export class Housekeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<TickResult> | null = null;
  private readonly clock: Clock;
  private readonly holder: string;
  /** Long enough that a holder ticking every `everyMs` keeps it through one slow or missed tick. */
  readonly ttlMs: number;

  constructor(private readonly opts: HousekeeperOptions) {
    this.clock = opts.clock ?? systemClock;
    this.holder = opts.holder ?? INSTANCE_ID;
    this.ttlMs = 3 * opts.everyMs;
  }

  /** One round; the timer calls it, tests call it directly. Never throws: failures are logged. */
  async tick(): Promise<TickResult> {
    if (this.running) return 'busy';
    this.running = this.runJobs().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.opts.everyMs);
    this.timer.unref();
  }

  /** Stops ticking, lets a running tick finish, and hands the lease back so another instance takes over now. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.opts.leases.release(HOUSEKEEPING_LEASE, this.holder).catch((err: unknown) => this.opts.log.error({ err }, 'housekeeping lease release failed'));
  }

  private async runJobs(): Promise<TickResult> {
    const now = this.clock.now();
    const held = await this.opts.leases.tryAcquire(HOUSEKEEPING_LEASE, this.holder, this.ttlMs, now).catch((err: unknown) => {
      this.opts.log.error({ err }, 'housekeeping lease failed');
      return false;
    });
    if (!held) return 'not_holder';
    // Side by side: a slow sweep (disk or S3 calls) must not hold back the prunes, which are
    // one statement each.
    const run = (job: HousekeepingJob) => Promise.resolve().then(() => job.run(now));
    await Promise.all(this.opts.jobs.map((job) => run(job).catch((err: unknown) => this.opts.log.error({ err }, `${job.name} failed`))));
    return 'ran';
  }
}

/** The server's jobs, ticking at a quarter of the upload expiry (1 s to 10 min). */
export function startHousekeeping(
  ctx: Pick<AppContext, 'config' | 'uploads' | 'sessions' | 'store'>,
  log: HousekeeperOptions['log'],
  clock: Clock = systemClock,
): Housekeeper {
  const everyMs = Math.min(Math.max((ctx.config.uploads.expirySeconds * 1000) / 4, 1000), 10 * 60_000);
  const housekeeper = new Housekeeper({
    leases: ctx.store.leases,
    everyMs,
    log,
    clock,
    jobs: [
      { name: 'upload sweep', run: () => ctx.uploads.sweep() },
      // Revocations outlive exp by the clock tolerance (a token is accepted that long).
      { name: 'token prune', run: () => ctx.sessions.pruneExpired() },
      { name: 'batch prune', run: (now) => ctx.store.batches.pruneBatches(Math.floor(now / 1000)) },
      // Ended login-failure windows (rows in the shared database with PostgreSQL).
      { name: 'login failure prune', run: (now) => ctx.sessions.pruneLoginFailures(now) },
    ],
  });
  housekeeper.start();
  return housekeeper;
}
