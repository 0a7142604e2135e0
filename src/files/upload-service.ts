/**
 * Uploads: init → parts → complete, resumable and crash-safe, on any BlobStore and any
 * number of instances:
 *  - init holds the request to the store's declared part rules, opens an upload area, and
 *    reserves each file's declared size against the quota, atomically;
 *  - a part is streamed as a fresh copy, checked (size, checksums), then recorded by one
 *    conditional write that succeeds only while the upload is open; the row names the copy
 *    that counts and the others are discarded, so no lock is needed between instances;
 *  - complete (upload-completion.ts) takes the upload out of 'open' under a lease, joins the
 *    recorded copies, and commits the file in one transaction;
 *  - abort and expiry remove the row by a conditional delete, then the upload area.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { FileRecord, MetadataStore, PartRecord, UploadRecord } from '../db/types.js';
import { InvalidInput, UploadNotFound, WrongState, UploadNotOpen, TooLarge } from '../errors/index.js';
import type { BlobStore, UploadHandle } from '../storage/blob-store.js';
import { noTelemetry, type Telemetry } from '../ops/telemetry.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { ExpectedDigests } from './checksums.js';
import { mayAccess, type FileService } from './file-service.js';
import { PART_WRITE_FENCE, PartWriteHold, type FenceTimings } from './part-write-fence.js';
import { completeUpload, type CompleteRequest } from './upload-completion.js';
import { reconcileAfterCrash, sweepExpired, type HousekeepingDeps, type ReconcileResult } from './upload-housekeeping.js';

export const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * MiB;

/** Upload areas opened at once for a batch init (S3: one CreateMultipartUpload each; 1,000 one by one took 17–44 s). */
const BEGIN_CONCURRENCY = 16;

/** Runs `fn` over `items`, at most `limit` at a time; the first failure rejects (the others finish). */
async function eachWithin<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export const handleOf = (upload: UploadRecord): UploadHandle => ({ uploadId: upload.id, ref: upload.blobRef });

export interface InitFile {
  name: string;
  size: number;
  mime?: string;
  sha256?: string;
}

export interface InitRequest {
  mode: UploadRecord['mode'];
  files: InitFile[];
  folder?: string;
  partSize?: number;
}

export interface UploadLimits {
  maxFileBytes: number;
  expiryMs: number;
  /** The part-write fence's leases (stores with fencedPartWrites); default PART_WRITE_FENCE. */
  partWriteFence?: FenceTimings;
}

export class UploadService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly files: FileService,
    private readonly limits: UploadLimits,
    private readonly telemetry: Telemetry = noTelemetry,
    private readonly clock: Clock = systemClock,
  ) {}

  private get housekeeping(): HousekeepingDeps {
    return { store: this.store, blobs: this.blobs, telemetry: this.telemetry, expiryMs: this.limits.expiryMs, clock: this.clock, events: this.files.events };
  }

  expiresAt(upload: UploadRecord): string {
    return new Date(upload.updatedAt + this.limits.expiryMs).toISOString();
  }

  async init(userId: string, req: InitRequest): Promise<UploadRecord[]> {
    const single = req.mode !== 'batch';
    if (single && req.files.length !== 1) throw new InvalidInput('validation_error', `body.files: mode ${req.mode} takes exactly one file`);
    // Size limits come before the quota, so a too-big file reads as file_too_large.
    for (const f of req.files) {
      if (f.size > this.limits.maxFileBytes) {
        throw new TooLarge('file_too_large', `${f.name}: larger than the ${this.limits.maxFileBytes}-byte limit`);
      }
    }
    const caps = this.blobs.capabilities;
    const partSize = req.partSize ?? Math.min(Math.max(DEFAULT_PART_SIZE, caps.minPartSize), caps.maxPartSize);
    if (req.partSize !== undefined && (partSize < caps.minPartSize || partSize > caps.maxPartSize)) {
      throw new InvalidInput('validation_error', `body.partSize: must be between ${caps.minPartSize} and ${caps.maxPartSize} bytes`);
    }
    const now = this.clock.now();
    const uploads = req.files.map((f): UploadRecord => {
      // One part of any size for 'single': the store's part limits are for multi-part uploads.
      const size = req.mode === 'single' ? Math.max(f.size, 1) : partSize;
      const partCount = Math.max(1, Math.ceil(f.size / size));
      if (partCount > caps.maxParts) throw new InvalidInput('validation_error', `body.partSize: ${f.name} would need more than ${caps.maxParts} parts`);
      return {
        id: randomBytes(18).toString('base64url'),
        userId,
        mode: req.mode,
        filename: f.name,
        folder: req.folder ?? '',
        size: f.size,
        mime: f.mime ?? 'application/octet-stream',
        sha256: f.sha256?.toLowerCase() ?? null,
        partSize: size,
        partCount,
        state: 'open',
        fileKey: null,
        blobRef: '',
        leaseUntil: null,
        createdAt: now,
        updatedAt: now,
      };
    });
    // The store's areas first: their references go in the rows. Refused by the quota (or one
    // area failing to open), the areas opened are closed again; any a crash leaves behind are
    // swept by age.
    const opened: UploadRecord[] = [];
    try {
      await eachWithin(uploads, BEGIN_CONCURRENCY, async (u) => {
        u.blobRef = (await this.blobs.beginUpload(u.id, { size: u.size, partSize: u.partSize, mime: u.mime })).ref;
        opened.push(u);
      });
      await this.store.uploads.createUploads(uploads, this.files.quotaCheck(userId));
    } catch (err) {
      await eachWithin(opened, BEGIN_CONCURRENCY, (u) => this.blobs.abortUpload(handleOf(u)).catch(() => undefined));
      throw err;
    }
    this.telemetry.uploadsStarted(uploads.length);
    return uploads;
  }

  /** The upload if `principal` may touch it; 404 otherwise (existence does not leak). */
  async getOwned(principal: Principal, uploadId: string): Promise<UploadRecord> {
    const upload = await this.store.uploads.getUpload(uploadId);
    if (!upload || !mayAccess(principal, upload.userId)) throw new UploadNotFound();
    return upload;
  }

  async status(principal: Principal, uploadId: string): Promise<{ upload: UploadRecord; parts: PartRecord[] }> {
    const upload = await this.getOwned(principal, uploadId);
    return { upload, parts: await this.store.uploads.listParts(uploadId) };
  }

  expectedPartSize(upload: UploadRecord, partNumber: number): number {
    return partNumber < upload.partCount ? upload.partSize : upload.size - upload.partSize * (upload.partCount - 1);
  }

  /** Checks that can refuse a part before a byte is read. Returns the exact size expected. */
  async admitPart(principal: Principal, uploadId: string, partNumber: number, contentLength: number | undefined): Promise<{ upload: UploadRecord; expected: number }> {
    const upload = await this.getOwned(principal, uploadId);
    if (upload.state !== 'open') throw new UploadNotOpen();
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > upload.partCount) {
      throw new InvalidInput('invalid_part_number', `partNumber: must be between 1 and ${upload.partCount}`);
    }
    const expected = this.expectedPartSize(upload, partNumber);
    if (contentLength !== undefined && contentLength > expected) {
      throw new TooLarge('part_too_large', `Part ${partNumber} must be ${expected} bytes`);
    }
    return { upload, expected };
  }

  async putPart(principal: Principal, uploadId: string, partNumber: number, body: Readable, expect: ExpectedDigests & { contentLength?: number }): Promise<PartRecord> {
    const { upload, expected } = await this.admitPart(principal, uploadId, partNumber, expect.contentLength);
    const handle = handleOf(upload);
    // Registered before a byte goes to a store that needs it (part-write-fence.ts).
    const fence = this.blobs.capabilities.fencedPartWrites ? await PartWriteHold.begin(this.store.uploads, uploadId, this.clock, this.fenceTimings) : undefined;
    const written = await this.blobs
      .writePart(handle, partNumber, body, {
        maxBytes: expected,
        md5: expect.md5 !== undefined, // only when Content-MD5 was sent: it halves the hashing cost
        tooLarge: () => new TooLarge('part_too_large', `Part ${partNumber} must be ${expected} bytes`),
        fence,
      })
      .catch(async (err: unknown) => {
        // Withdrawn by the fence: aborted meanwhile (the row is gone) reads as 404, as on a store without it.
        if (err instanceof UploadNotOpen && !(await this.store.uploads.getUpload(uploadId))) throw new UploadNotFound();
        throw err;
      })
      .finally(() => fence?.end());
    this.telemetry.bytesIn(written.size);
    const part: PartRecord = { partNumber, size: written.size, sha256: written.sha256, ref: written.ref };
    const discard = (p: { partNumber: number; ref: string }) => this.blobs.discardPart(handle, p).catch(() => undefined);
    try {
      if (written.size !== expected) throw new InvalidInput('part_size_mismatch', `Part ${partNumber} must be ${expected} bytes, got ${written.size}`);
      if (expect.sha256 && expect.sha256 !== written.sha256) throw new InvalidInput('checksum_mismatch', 'X-Checksum-SHA256 does not match the part');
      if (expect.md5 && expect.md5 !== written.md5) throw new InvalidInput('checksum_mismatch', 'Content-MD5 does not match the part');
      // The upload may have been completed, aborted or expired while the bytes streamed in:
      // then the copy must not land among (or resurrect) its parts. The write says so (F-09).
      const recorded = await this.store.uploads.putPart(uploadId, part, this.clock.now());
      if (recorded.outcome !== 'recorded') {
        // Gone meanwhile (aborted, expired): the area has no use left, and this write may have
        // made it again. Completed: its close belongs to the completion and the sweep, under the
        // file's close lease (close-lease.ts): a close from here could run inside a move.
        if (recorded.outcome === 'not_found') await this.blobs.abortUpload(handle).catch(() => undefined);
        throw recorded.outcome === 'not_found' ? new UploadNotFound() : new UploadNotOpen();
      }
      if (recorded.replaced && recorded.replaced.ref !== part.ref) await discard(recorded.replaced);
    } catch (err) {
      await discard(part);
      // Where a copy replaces the earlier one of its part (S3), the recorded copy is gone too:
      // forget the part, so that the status and complete say it must be sent again.
      if (!this.blobs.capabilities.distinctPartCopies) await this.store.uploads.dropPart(uploadId, partNumber, this.clock.now()).catch(() => undefined);
      throw err;
    }
    return part;
  }

  async complete(principal: Principal, req: CompleteRequest): Promise<{ file: FileRecord; created: boolean }> {
    const upload = await this.getOwned(principal, req.uploadId);
    return completeUpload(this.completion, upload, req);
  }

  private get fenceTimings(): FenceTimings {
    return this.limits.partWriteFence ?? PART_WRITE_FENCE;
  }

  private get completion() {
    return { store: this.store, blobs: this.blobs, telemetry: this.telemetry, clock: this.clock, fence: this.fenceTimings, expectedPartSize: this.expectedPartSize.bind(this), events: this.files.events };
  }

  async abort(principal: Principal, uploadId: string): Promise<void> {
    await this.getOwned(principal, uploadId);
    // One conditional delete: a completion that began meanwhile keeps its upload.
    const result = await this.store.uploads.deleteUpload(uploadId, { states: ['open'] });
    if (result.outcome === 'not_found') throw new UploadNotFound();
    if (result.outcome === 'kept') {
      if (result.upload.state === 'completed') throw new WrongState('upload_completed', 'This upload is already complete');
      throw new WrongState('complete_in_progress', 'This upload is being completed');
    }
    await this.blobs.abortUpload(handleOf(result.upload));
    this.telemetry.uploadAborted();
  }

  /** Removes uploads idle for longer than the expiry (see upload-housekeeping.ts). */
  async sweep(now = this.clock.now()): Promise<number> {
    return sweepExpired(this.housekeeping, now);
  }

  /** Start-up: undoes interrupted completions and removes crash leftovers (see upload-housekeeping.ts). */
  async reconcile(now = this.clock.now()): Promise<ReconcileResult> {
    return reconcileAfterCrash(this.housekeeping, now);
  }
}
