/**
 * The part-write fence, for a store whose parts must never be written once they are joined
 * (BlobCapabilities.fencedPartWrites: S3, where Swift's s3api takes an UploadPart after
 * CompleteMultipartUpload and rewrites the completed object). In the database:
 *  - a part write registers before its first byte goes to the store (refused unless the
 *    upload is open, ordered against beginAssembly by the upload's row), under a short lease
 *    it renews while the body streams;
 *  - a completion, once the upload is 'assembling', waits until no registered write is alive
 *    (waitForPartWrites) before the store joins the parts.
 * A writer that learns at a renewal (or at its last byte) that the upload left 'open', or
 * that cannot renew before its lease nears its end (database unreachable), withdraws: the
 * store aborts the request while the last byte is still held back, so S3 keeps its earlier
 * copy. It withdraws MARGIN before the lease lapses, so a lapsed lease always means no request
 * of it is still in flight, and a completion never waits longer than one lease for a slow client.
 * Leases are compared on each instance's clock, as the assembly lease is: the margin absorbs
 * small skews between instances.
 */
import { randomBytes } from 'node:crypto';
import type { UploadStore } from '../db/types.js';
import { UploadNotFound, UploadNotOpen, WrongState } from '../errors/index.js';
import type { PartWriteFence } from '../storage/blob-store.js';
import type { Clock } from '../util/clock.js';

export interface FenceTimings {
  /** How long a registered write holds its lease without renewing. */
  leaseMs: number;
  /** Renewals (and the check whether the upload is still open) this often. */
  renewEveryMs: number;
  /** The writer withdraws this long before its lease would lapse unrenewed. */
  marginMs: number;
}

/**
 * 10 s leases renewed every second: a completion waits ≤ ~1 s for a slow client's part to be
 * withdrawn, ≤ 10 s for a writer whose instance died; a part of 8 MiB streams in well under a
 * second, so most writes never renew (2 database writes per part, register and end, and a
 * read of the upload's state before the last byte).
 */
export const PART_WRITE_FENCE: FenceTimings = { leaseMs: 10_000, renewEveryMs: 1_000, marginMs: 3_000 };

/** The fence for a lease of `seconds` (PART_WRITE_LEASE_SECONDS, ≥ 5): renewals and margin as above. */
export const partWriteFenceOf = (seconds: number): FenceTimings => ({ ...PART_WRITE_FENCE, leaseMs: seconds * 1000 });

export class PartWriteHold implements PartWriteFence {
  private readonly abort = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private renewing = false;
  private doubt = false;
  private ended = false;

  private constructor(
    private readonly uploads: UploadStore,
    private readonly uploadId: string,
    private readonly writeId: string,
    private readonly clock: Clock,
    private readonly t: FenceTimings,
    private leaseUntil: number,
  ) {
    this.timer = setInterval(() => this.tick(), t.renewEveryMs);
    this.timer.unref();
  }

  /** Registers a write of `uploadId`; UploadNotOpen / UploadNotFound when it may not start. */
  static async begin(uploads: UploadStore, uploadId: string, clock: Clock, t: FenceTimings = PART_WRITE_FENCE): Promise<PartWriteHold> {
    const writeId = randomBytes(9).toString('base64url');
    const now = clock.now();
    const outcome = await uploads.beginPartWrite(uploadId, writeId, now, now + t.leaseMs);
    if (outcome === 'not_found') throw new UploadNotFound();
    if (outcome === 'not_open') throw new UploadNotOpen();
    return new PartWriteHold(uploads, uploadId, writeId, clock, t, now + t.leaseMs);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * Is the upload still open, asked now; false (withdraw) when it left 'open' or the database
   * did not answer. A read, not a renewal: the ticks keep the lease, and a write here would
   * order nothing more (a completion beginning just after either answer waits for this write
   * to end), so each part saves a database write (a commit flush on PostgreSQL).
   */
  async beforeLastByte(): Promise<boolean> {
    if (this.abort.signal.aborted) return false;
    const upload = await this.uploads.getUpload(this.uploadId).catch(() => null);
    if (upload?.state !== 'open') this.abort.abort();
    return upload?.state === 'open' && !this.abort.signal.aborted;
  }

  inDoubt(): void {
    this.doubt = true;
  }

  /** The write is over: its registration goes, unless its outcome is in doubt (then its lease lapses). */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    if (!this.doubt) await this.uploads.endPartWrite(this.uploadId, this.writeId).catch(() => undefined); // else it lapses
  }

  private async renew(): Promise<boolean> {
    const at = this.clock.now();
    const open = await this.uploads.renewPartWrite(this.uploadId, this.writeId, at + this.t.leaseMs);
    this.leaseUntil = Math.max(this.leaseUntil, at + this.t.leaseMs);
    if (!open) this.abort.abort();
    return open;
  }

  private tick(): void {
    if (this.clock.now() >= this.leaseUntil - this.t.marginMs) this.abort.abort(); // could not renew in time: withdraw
    // Renewed even once withdrawn: a write whose last byte is out stays visible until answered.
    if (this.renewing) return;
    this.renewing = true;
    this.renew()
      .catch(() => undefined) // unreachable: the next tick checks the deadline
      .finally(() => {
        this.renewing = false;
      });
  }
}

/**
 * A completion's wait, after beginAssembly: until no registered write of the upload is alive.
 * Live writers withdraw at their next renewal; a dead one's lease lapses. Bounded by one lease
 * and a margin; past it (clocks far apart), 409 complete_in_progress and the upload reopens.
 */
export async function waitForPartWrites(uploads: UploadStore, uploadId: string, clock: Clock, t: FenceTimings = PART_WRITE_FENCE): Promise<void> {
  const deadline = Date.now() + t.leaseMs + t.marginMs;
  let pause = 10;
  while ((await uploads.livePartWrites(uploadId, clock.now())) > 0) {
    if (Date.now() >= deadline) throw new WrongState('complete_in_progress', 'A part of this upload is still being written');
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 200);
  }
}
