/**
 * Uploads: init → parts → complete, resumable and crash-safe.
 *  - init reserves each file's declared size against the quota, atomically;
 *  - a part is streamed to a temporary file and only counted (renamed + recorded) once it
 *    arrived whole with the right size and checksums;
 *  - complete moves the upload open → assembling (one winner), joins the parts into the
 *    final object (temp, fsync, rename), then commits the record in one transaction;
 *    a crash anywhere leaves the file wholly there or wholly absent (see reconcile);
 *  - one lock per upload orders promoting a part (rename + record) against complete's
 *    reading of the part list, abort and expiry, so a part that loses never becomes the file.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { FileRecord, MetadataStore, PartRecord, UploadRecord } from '../db/types.js';
import { InvalidInput, FileNotFound, UploadNotFound, WrongState, UploadNotOpen, TooLarge } from '../errors/index.js';
import type { BlobStore } from '../storage/blob-store.js';
import { noTelemetry, type Telemetry } from '../ops/telemetry.js';
import type { ExpectedDigests } from './checksums.js';
import { mayAccess, type FileService } from './file-service.js';
import { KeyedMutex } from './keyed-mutex.js';
import { buildKey, newFileId } from './keys.js';
import { reconcileAfterCrash, sweepExpired, type HousekeepingDeps, type ReconcileResult } from './upload-housekeeping.js';

export const MiB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * MiB;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 512 * MiB;
export const MAX_PARTS = 10_000;

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
}

export class UploadService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly files: FileService,
    private readonly limits: UploadLimits,
    private readonly telemetry: Telemetry = noTelemetry,
  ) {}

  /** In-process locks per upload id (see putPart and complete). */
  private readonly locks = new KeyedMutex();

  private get housekeeping(): HousekeepingDeps {
    return { store: this.store, blobs: this.blobs, locks: this.locks, telemetry: this.telemetry, expiryMs: this.limits.expiryMs };
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
    const now = Date.now();
    const uploads = req.files.map((f): UploadRecord => {
      const partSize = req.mode === 'single' ? Math.max(f.size, 1) : (req.partSize ?? DEFAULT_PART_SIZE);
      const partCount = Math.max(1, Math.ceil(f.size / partSize));
      if (partCount > MAX_PARTS) throw new InvalidInput('validation_error', `body.partSize: ${f.name} would need more than ${MAX_PARTS} parts`);
      return {
        id: randomBytes(18).toString('base64url'),
        userId,
        mode: req.mode,
        filename: f.name,
        folder: req.folder ?? '',
        size: f.size,
        mime: f.mime ?? 'application/octet-stream',
        sha256: f.sha256?.toLowerCase() ?? null,
        partSize,
        partCount,
        state: 'open',
        fileKey: null,
        createdAt: now,
        updatedAt: now,
      };
    });
    await this.store.uploads.createUploads(uploads, this.files.quotaCheck(userId));
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
    const { expected } = await this.admitPart(principal, uploadId, partNumber, expect.contentLength);
    let unlock: (() => void) | undefined;
    const written = await this.blobs.writePart(uploadId, partNumber, body, {
      maxBytes: expected,
      md5: expect.md5 !== undefined, // only when Content-MD5 was sent: it halves the hashing cost
      tooLarge: () => new TooLarge('part_too_large', `Part ${partNumber} must be ${expected} bytes`),
      verify: async (w) => {
        if (w.size !== expected) throw new InvalidInput('part_size_mismatch', `Part ${partNumber} must be ${expected} bytes, got ${w.size}`);
        if (expect.sha256 && expect.sha256 !== w.sha256) throw new InvalidInput('checksum_mismatch', 'X-Checksum-SHA256 does not match the part');
        if (expect.md5 && expect.md5 !== w.md5) throw new InvalidInput('checksum_mismatch', 'Content-MD5 does not match the part');
        // Two copies of one part may arrive at once: promoting a copy and recording its digest
        // happen under the upload's lock, so the recorded digest is always that of the bytes
        // kept; complete reads the part list under the same lock (F-09). Only this short step
        // is serialised: parts still stream in parallel.
        unlock = await this.locks.acquire(uploadId);
        // The upload may have been completed, aborted or expired while the bytes streamed in:
        // then the part must not land among (or resurrect) its parts.
        await this.assertOpen(uploadId);
      },
    }).catch((err: unknown) => {
      unlock?.();
      throw err;
    });
    this.telemetry.bytesIn(written.size);
    const part = { partNumber, size: written.size, sha256: written.sha256 };
    try {
      await this.store.uploads.putPart(uploadId, part, Date.now());
    } catch (err) {
      // Lost the race after all: drop what was promoted, unless a completion is reading it.
      const now = await this.store.uploads.getUpload(uploadId);
      if (!now || now.state === 'completed') await this.blobs.deleteParts(uploadId).catch(() => undefined);
      throw err;
    } finally {
      unlock?.();
    }
    return part;
  }

  private async assertOpen(uploadId: string): Promise<void> {
    const upload = await this.store.uploads.getUpload(uploadId);
    if (!upload) throw new UploadNotFound();
    if (upload.state !== 'open') throw new UploadNotOpen();
  }

  async complete(
    principal: Principal,
    req: { uploadId: string; filename?: string; folder?: string; sha256?: string },
  ): Promise<{ file: FileRecord; created: boolean }> {
    const upload = await this.getOwned(principal, req.uploadId);
    if (upload.state === 'completed') return { file: await this.completedFile(upload), created: false };
    if (upload.state === 'assembling') throw new WrongState('complete_in_progress', 'This upload is being completed');

    const expectedSha = req.sha256?.toLowerCase() ?? upload.sha256;
    const folder = req.folder ?? upload.folder;
    const filename = req.filename ?? upload.filename;
    const id = newFileId();
    const key = buildKey({ userId: upload.userId, folder, id, filename });

    // F-09: the part list is read and the upload leaves 'open' under the lock a part takes to
    // be promoted and recorded. A part that got in first is in the list; one that comes after
    // finds the upload no longer open and is refused (409) before its bytes replace anything.
    const parts = await this.locks.run(upload.id, async () => {
      const listed = await this.store.uploads.listParts(upload.id);
      this.checkParts(upload, listed);
      if (upload.partCount === 1 && expectedSha && listed[0]!.sha256 !== expectedSha) {
        throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
      }
      return (await this.store.uploads.beginAssembly(upload.id, key, Date.now())) ? listed : null;
    });
    if (!parts) {
      // Someone else won the race: report their outcome.
      const now = await this.getOwned(principal, upload.id);
      if (now.state === 'completed') return { file: await this.completedFile(now), created: false };
      throw new WrongState('complete_in_progress', 'This upload is being completed');
    }
    try {
      const written = await this.blobs.assemble(upload.id, parts, key);
      if (written.size !== upload.size || (expectedSha && written.sha256 !== expectedSha)) {
        throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
      }
      const file: FileRecord = { id, key, userId: upload.userId, folder, filename, size: written.size, mime: upload.mime, sha256: written.sha256, createdAt: new Date().toISOString() };
      await this.store.uploads.finishAssembly(upload.id, file);
      await this.blobs.deleteParts(upload.id).catch(() => undefined); // swept later if this fails
      this.telemetry.uploadCompleted();
      return { file, created: true };
    } catch (err) {
      await this.blobs.delete(key).catch(() => undefined);
      await this.store.uploads.abortAssembly(upload.id, Date.now());
      throw err;
    }
  }

  private checkParts(upload: UploadRecord, parts: PartRecord[]): void {
    const byNumber = new Map(parts.map((p) => [p.partNumber, p]));
    const missing: number[] = [];
    for (let n = 1; n <= upload.partCount; n++) {
      const p = byNumber.get(n);
      if (!p || p.size !== this.expectedPartSize(upload, n)) missing.push(n);
    }
    if (missing.length > 0) {
      throw new InvalidInput('upload_incomplete', `Missing or wrong-sized parts: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`, { missing_parts: missing });
    }
  }

  private async completedFile(upload: UploadRecord): Promise<FileRecord> {
    const file = upload.fileKey ? await this.store.files.getFile(upload.fileKey) : null;
    if (!file) throw new FileNotFound('The file of this upload was deleted');
    return file;
  }

  async abort(principal: Principal, uploadId: string): Promise<void> {
    await this.getOwned(principal, uploadId);
    // Under the lock, so that a completion cannot begin between the state check and the delete.
    await this.locks.run(uploadId, async () => {
      const upload = await this.store.uploads.getUpload(uploadId);
      if (!upload) throw new UploadNotFound();
      if (upload.state === 'assembling') throw new WrongState('complete_in_progress', 'This upload is being completed');
      if (upload.state === 'completed') throw new WrongState('upload_completed', 'This upload is already complete');
      await this.store.uploads.deleteUpload(uploadId);
      await this.blobs.deleteParts(uploadId);
    });
    this.telemetry.uploadAborted();
  }

  /** Removes uploads idle for longer than the expiry (see upload-housekeeping.ts). */
  async sweep(now = Date.now()): Promise<number> {
    return sweepExpired(this.housekeeping, now);
  }

  /** Start-up: undoes interrupted completions and removes crash leftovers (see upload-housekeeping.ts). */
  async reconcile(now = Date.now()): Promise<ReconcileResult> {
    return reconcileAfterCrash(this.housekeeping, now);
  }
}
