/**
 * The close lease, `close:{fileId}` in the database (LeaseStore): a move of a file never runs
 * inside the close of the upload the file came from.
 *
 * On S3 a chunked upload's file is an alias of the completed upload, and the close
 * (abortUpload after the record commit) decides from that alias and the `.committed` marker
 * whether the completed object still holds a file (src/storage/s3/staging.ts). A move makes a
 * new alias, points the marker at it and deletes the old alias (src/storage/s3/move.ts). A
 * move inside a close could make the close remove the moved file's bytes (it finds the old
 * alias gone), or overwrite the marker with the old alias (bytes removed, or leaked once the
 * file goes). S3 has no conditional write to order them (none on Swift), so the database does:
 *  - the completion takes the lease before it commits the record (no move can start before
 *    that: the move needs the record) and releases it after its close;
 *  - the sweep's close of a completed upload (a re-run of a failed close) takes it, or leaves
 *    that upload for the next sweep while a move holds it;
 *  - a move takes it around the whole move, waiting up to CLOSE_WAIT_MS, then answers 409
 *    complete_in_progress with nothing moved.
 * By file id, which a move keeps (the key changes): a close that starts after moves still
 * meets the next one. Only this file's operations meet: unrelated uploads never wait. A holder
 * that dies stops renewing and its lease lapses after CLOSE_LEASE_MS. Local disk keeps no
 * marker (a move is a link and a rename), but takes the lease too: two database writes per
 * completion and per move, whatever the store (README "Folders and moves").
 */
import { randomUUID } from 'node:crypto';
import type { LeaseStore } from '../db/types.js';
import { WrongState } from '../errors/index.js';
import type { Clock } from '../util/clock.js';

/** How long the lease lives without renewal; a live holder renews it every third of that. */
export const CLOSE_LEASE_MS = 30_000;
/** How long a move waits for a close (a few S3 requests: tens of ms) before it answers 409. */
export const CLOSE_WAIT_MS = 5_000;

export const closeLeaseName = (fileId: string): string => `close:${fileId}`;

const busy = () => new WrongState('complete_in_progress', 'The upload of this file is still being closed; nothing was moved, retry in a moment');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class CloseLease {
  private readonly renewal: NodeJS.Timeout;

  private constructor(
    private readonly leases: LeaseStore,
    private readonly name: string,
    private readonly holder: string,
    clock: Clock,
  ) {
    // Renewed while held: a close (or a move's server-side copy) stalled on S3 for longer than
    // the lease must not let a move in. A failed renewal is retried at the next tick.
    this.renewal = setInterval(() => {
      leases.tryAcquire(name, holder, CLOSE_LEASE_MS, clock.now()).catch(() => undefined);
    }, CLOSE_LEASE_MS / 3);
    this.renewal.unref();
  }

  /** The file's lease if it is free (or lapsed); null while another holder's is live. */
  static async tryTake(leases: LeaseStore, clock: Clock, fileId: string): Promise<CloseLease | null> {
    const name = closeLeaseName(fileId);
    const holder = randomUUID();
    if (!(await leases.tryAcquire(name, holder, CLOSE_LEASE_MS, clock.now()))) return null;
    return new CloseLease(leases, name, holder, clock);
  }

  /**
   * The file's lease, waiting up to `waitMs` for a holder to release it; 409
   * complete_in_progress past that. Bounded in wall time, and on `clock` too (tests move it).
   */
  static async take(leases: LeaseStore, clock: Clock, fileId: string, waitMs = CLOSE_WAIT_MS): Promise<CloseLease> {
    const [deadline, wallDeadline] = [clock.now() + waitMs, Date.now() + waitMs];
    for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
      const lease = await CloseLease.tryTake(leases, clock, fileId);
      if (lease) return lease;
      if (clock.now() >= deadline || Date.now() >= wallDeadline) throw busy();
      await sleep(pause);
    }
  }

  /** Gives the lease up (a failed release lapses after CLOSE_LEASE_MS). */
  async release(): Promise<void> {
    clearInterval(this.renewal);
    await this.leases.release(this.name, this.holder).catch(() => undefined);
  }

  /** Runs `fn` holding the lease, and releases it however `fn` ends. */
  async holding<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}
