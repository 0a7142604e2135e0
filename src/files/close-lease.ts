/**
 * The close lease, `close:{fileId}` in the database (LeaseStore): no move of a file runs
 * inside the close of the upload the file came from.
 *
 * On S3 a chunked upload's file is an alias of the completed upload, and the close
 * (abortUpload after the record commit) decides from that alias and the `.committed` marker
 * whether the completed object still holds a file (src/storage/s3/staging.ts). A move makes a
 * new alias, points the marker at it and deletes the old alias (src/storage/s3/move.ts). A
 * move inside a close could make the close remove the moved file's bytes (it finds the old
 * alias gone), or overwrite the marker with the old alias (bytes removed, or leaked once the
 * file goes). S3 has no conditional write to order them (none on Swift), so the database does.
 * Each side first says it is there, then looks for the other (both in the one database, so at
 * least one of two racing sides sees the other):
 *  - a close holds the lease: the completion takes it before it commits the record (no move
 *    can start before that: a move needs the record) and releases it after its close; the
 *    sweep's close of a completed upload (a re-run of a failed close) takes it, then looks for
 *    a journaled move of the file (FolderStore.movesOf) and, finding one, leaves that upload
 *    for a later sweep;
 *  - a move journals itself (as before), then waits until no close holds the lease (up to
 *    CLOSE_WAIT_MS, then 409 complete_in_progress) before it touches a byte.
 * Moves take no lease: a move killed half-way is finished by the next request at once (no
 * lease of a dead process to wait out), and racing moves of one file are ordered by the
 * journal as before. By file id, which a move keeps. Only this file's operations meet:
 * unrelated uploads never wait. A close that dies stops renewing; its lease lapses after
 * CLOSE_LEASE_MS. Local disk has no marker (a move is a link and a rename) but goes the same
 * way: two database writes per completion, one read per move (README "Folders and moves").
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

export const closeBusy = (): WrongState => new WrongState('complete_in_progress', 'The upload of this file is still being closed; nothing was moved, retry in a moment');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A close's hold on the file: taken with tryTake, renewed while held, released once. */
export class CloseLease {
  private readonly renewal: NodeJS.Timeout;

  private constructor(
    private readonly leases: LeaseStore,
    private readonly name: string,
    private readonly holder: string,
    clock: Clock,
  ) {
    // Renewed while held: a close stalled on S3 for longer than the lease must not let a move
    // in. A failed renewal is tried again at the next tick.
    this.renewal = setInterval(() => {
      leases.tryAcquire(name, holder, CLOSE_LEASE_MS, clock.now()).catch(() => undefined);
    }, CLOSE_LEASE_MS / 3);
    this.renewal.unref();
  }

  /** The file's lease if it is free (or lapsed); null while another close holds it. */
  static async tryTake(leases: LeaseStore, clock: Clock, fileId: string): Promise<CloseLease | null> {
    const name = closeLeaseName(fileId);
    const holder = randomUUID();
    if (!(await leases.tryAcquire(name, holder, CLOSE_LEASE_MS, clock.now()))) return null;
    return new CloseLease(leases, name, holder, clock);
  }

  /** Runs `fn` holding the lease, then gives it up (a failed release lapses after CLOSE_LEASE_MS). */
  async holding<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      clearInterval(this.renewal);
      await this.leases.release(this.name, this.holder).catch(() => undefined);
    }
  }
}

/**
 * For a move, once journaled: resolves when no close holds the file's lease; 409
 * complete_in_progress after `waitMs`. Bounded in wall time, and on `clock` too (tests move it).
 */
export async function closesDone(leases: LeaseStore, clock: Clock, fileId: string, waitMs = CLOSE_WAIT_MS): Promise<void> {
  const name = closeLeaseName(fileId);
  const [deadline, wallDeadline] = [clock.now() + waitMs, Date.now() + waitMs];
  for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
    if ((await leases.holder(name, clock.now())) === null) return;
    if (clock.now() >= deadline || Date.now() >= wallDeadline) throw closeBusy();
    await sleep(pause);
  }
}
