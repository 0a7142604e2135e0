/**
 * Completing an upload, safe against racing parts, racing completions and a dying instance:
 *  1. the recorded parts are checked (fail fast, nothing changes);
 *  2. open → assembling under a lease (one winner); from then on no part is recorded, so the
 *     part list read next is the one assembled (F-09);
 *  3. where the store needs it (fencedPartWrites), it waits until no part write registered
 *     before step 2 is alive (part-write-fence.ts); then the store joins the recorded copies
 *     into the final key while the lease is renewed;
 *  4. the file is committed only if this attempt still holds the lease; otherwise, or on any
 *     failure, the object is removed and the upload reopened for a retry;
 *  5. the upload is closed (abortUpload). Steps 4 and 5 hold the new file's close lease, so no
 *     move of the file runs inside the close (close-lease.ts).
 * A complete that finds another attempt at work (another instance, a retry) waits for it, up
 * to COMPLETE_WAIT_MS, and answers with its record (200), so two completes racing on two
 * instances give one file and the same answer. An attempt whose instance died keeps its lease
 * until it runs out; then the sweep, or a waiting complete, reclaims it (reclaimExpired).
 */
import { createHash } from 'node:crypto';
import type { FileRecord, MetadataStore, PartRecord, UploadRecord } from '../db/types.js';
import { FileNotFound, InvalidInput, UploadNotFound, WrongState } from '../errors/index.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Clock } from '../util/clock.js';
import { CloseLease } from './close-lease.js';
import { buildKey, newFileId } from './keys.js';
import { waitForPartWrites, type FenceTimings } from './part-write-fence.js';
import type { EventFactory } from '../events/events.js';

/** How long a completion holds its upload without renewing; renewed every third of it. */
export const ASSEMBLY_LEASE_MS = 60_000;

export interface CompleteRequest {
  uploadId: string;
  filename?: string;
  folder?: string;
  sha256?: string;
}

export interface CompletionDeps {
  store: MetadataStore;
  blobs: BlobStore;
  telemetry: Telemetry;
  clock: Clock;
  /** The part-write fence's leases (default PART_WRITE_FENCE). */
  fence?: FenceTimings;
  expectedPartSize(upload: UploadRecord, partNumber: number): number;
  /** Webhook events (file.created is written with the file). */
  events?: EventFactory;
}

/**
 * How long a complete waits for another attempt on the same upload (another instance, or a
 * retry) to finish, so that both answer with the one record; past it, 409 complete_in_progress.
 */
export const COMPLETE_WAIT_MS = 30_000;

const inProgress = () => new WrongState('complete_in_progress', 'This upload is being completed');

/**
 * The upload once no other attempt is assembling it: completed (the other attempt's record),
 * or open (never begun, or the other attempt failed or its lease lapsed and was reclaimed).
 * Polls with a growing pause until `deadline` (wall time), then gives up with 409.
 */
async function settled(d: CompletionDeps, found: UploadRecord, deadline: number): Promise<UploadRecord> {
  let upload = found;
  let pause = 20;
  while (upload.state === 'assembling') {
    if (!(await reclaimExpired(d, upload))) {
      if (Date.now() >= deadline) throw inProgress();
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 500);
    }
    const now = await d.store.uploads.getUpload(upload.id);
    if (!now) throw new UploadNotFound();
    upload = now;
  }
  return upload;
}

export async function completeUpload(d: CompletionDeps, found: UploadRecord, req: CompleteRequest): Promise<{ file: FileRecord; created: boolean }> {
  const deadline = Date.now() + COMPLETE_WAIT_MS;
  const expectedSha = req.sha256?.toLowerCase() ?? found.sha256;
  const folder = req.folder ?? found.folder;
  const filename = req.filename ?? found.filename;
  const id = newFileId();
  const key = buildKey({ userId: found.userId, folder, id, filename });
  let upload = found;
  for (;;) {
    upload = await settled(d, upload, deadline);
    if (upload.state === 'completed') return { file: await completedFile(d, upload), created: false };
    const listed = await d.store.uploads.listParts(upload.id);
    // Another attempt may have begun, and even finished (a disk completion takes milliseconds),
    // since the state above was read: its parts are gone then, and its outcome is the answer.
    const current = missingParts(d, upload, listed).length > 0 ? await d.store.uploads.getUpload(upload.id) : null;
    if (current && current.state !== 'open') {
      upload = current;
      continue;
    }
    checkParts(d, upload, listed);
    if (await d.store.uploads.beginAssembly(upload.id, key, d.clock.now(), d.clock.now() + ASSEMBLY_LEASE_MS)) break;
    // Another instance (or request) began first: wait for its outcome, and answer with it.
    const now = await d.store.uploads.getUpload(upload.id);
    if (!now) throw new UploadNotFound();
    upload = now;
  }
  const renewal = setInterval(() => {
    d.store.uploads.renewAssembly(upload.id, key, d.clock.now() + ASSEMBLY_LEASE_MS).catch(() => undefined);
  }, ASSEMBLY_LEASE_MS / 3);
  renewal.unref();
  let joined: PartRecord[] | null = null;
  try {
    // No part write may reach the store from here on: those begun before the step above end or are withdrawn.
    if (d.blobs.capabilities.fencedPartWrites) await waitForPartWrites(d.store.uploads, upload.id, d.clock, d.fence);
    // Stable now: a part racing the step above was either recorded before it or refused.
    const parts = await d.store.uploads.listParts(upload.id);
    checkParts(d, upload, parts);
    if (upload.partCount === 1 && expectedSha && parts[0]!.sha256 !== expectedSha) {
      throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
    }
    // A store that knows the digest before joining refuses a mismatch there (nothing joined).
    const assembled = await d.blobs.assemble({ uploadId: upload.id, ref: upload.blobRef }, parts, key, { sha256: expectedSha ?? undefined });
    joined = parts;
    const sha256 = assembled.sha256 ?? (await sha256Of(d.blobs, key));
    if (assembled.size !== upload.size || (expectedSha && sha256 !== expectedSha)) {
      throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
    }
    const file: FileRecord = { id, key, userId: upload.userId, folder, filename, size: assembled.size, mime: upload.mime, sha256, createdAt: new Date(d.clock.now()).toISOString() };
    clearInterval(renewal);
    // From before the record exists until the upload is closed: no move of the new file runs
    // inside the close (close-lease.ts). A fresh file id: no other holder.
    const closing = await CloseLease.tryTake(d.store.leases, d.clock, id);
    if (!closing) throw inProgress();
    await closing.holding(async () => {
      if (!(await d.store.uploads.finishAssembly(upload.id, file, d.events?.fileCreated(file)))) throw inProgress(); // the lease ran out and was reclaimed
      await d.blobs.abortUpload({ uploadId: upload.id, ref: upload.blobRef }).catch(() => undefined); // swept later if this fails
    });
    d.telemetry.uploadCompleted();
    return { file, created: true };
  } catch (err) {
    clearInterval(renewal);
    await d.blobs.delete(key).catch(() => undefined);
    if (joined) await reopenJoined(d, upload, key, joined);
    await d.store.uploads.abortAssembly(upload.id, key, d.clock.now());
    throw err;
  }
}

/**
 * A failed completion whose parts the store joined for good (S3): the store re-opens them as a
 * fresh upload area (server-side copies, on this failure path only) and the records follow,
 * while this attempt still holds the assembly, so the client can re-send just the bad part.
 * If that fails, the upload still reopens: the copies it holds can complete it, as before.
 */
async function reopenJoined(d: CompletionDeps, upload: UploadRecord, key: string, parts: PartRecord[]): Promise<void> {
  if (!d.blobs.reopenJoined) return;
  try {
    // Held for a lease from now (renewed first), so the records surely follow the store.
    if (!(await d.store.uploads.renewAssembly(upload.id, key, d.clock.now() + ASSEMBLY_LEASE_MS))) return;
    const fresh = await d.blobs.reopenJoined({ uploadId: upload.id, ref: upload.blobRef }, parts);
    if (fresh) await d.store.uploads.rebaseAssembly(upload.id, key, fresh.ref, fresh.parts);
  } catch {
    // Left joined: only the same copies complete it (the store refuses new ones).
  }
}

/**
 * Reopens an upload whose completing instance let its lease run out (it died or hung): the
 * half-made object goes unless a record names it. True when this call reclaimed it.
 */
export async function reclaimExpired(d: Pick<CompletionDeps, 'store' | 'blobs' | 'clock'>, upload: UploadRecord): Promise<boolean> {
  if (upload.state !== 'assembling' || !upload.fileKey) return false;
  if (upload.leaseUntil !== null && upload.leaseUntil > d.clock.now()) return false;
  if (!(await d.store.uploads.reclaimAssembly(upload.id, upload.fileKey, d.clock.now()))) return false;
  if (!(await d.store.files.getFile(upload.fileKey))) await d.blobs.delete(upload.fileKey);
  return true;
}

/** The part numbers the record lacks, or holds with the wrong size. */
function missingParts(d: CompletionDeps, upload: UploadRecord, parts: PartRecord[]): number[] {
  const byNumber = new Map(parts.map((p) => [p.partNumber, p]));
  const missing: number[] = [];
  for (let n = 1; n <= upload.partCount; n++) {
    const p = byNumber.get(n);
    if (!p || p.size !== d.expectedPartSize(upload, n)) missing.push(n);
  }
  return missing;
}

function checkParts(d: CompletionDeps, upload: UploadRecord, parts: PartRecord[]): void {
  const missing = missingParts(d, upload, parts);
  if (missing.length > 0) {
    throw new InvalidInput('upload_incomplete', `Missing or wrong-sized parts: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`, { missing_parts: missing });
  }
}

async function completedFile(d: CompletionDeps, upload: UploadRecord): Promise<FileRecord> {
  const file = upload.fileKey ? await d.store.files.getFile(upload.fileKey) : null;
  if (!file) throw new FileNotFound('The file of this upload was deleted');
  return file;
}

/** For a store that cannot give the digest for free: one more read of the object. */
async function sha256Of(blobs: BlobStore, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await blobs.read(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
