/**
 * Upload housekeeping: the expiry sweep (periodic) and the start-up reconcile. Both page
 * through rows and upload areas (F-07: 100k open uploads must not be loaded at once), and
 * every removal is a conditional write, so they never race a part or a completion, on this
 * instance or another.
 */
import type { FileRecord, MetadataStore, UploadRecord } from '../db/types.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { BlobStore, OrphanScan } from '../storage/blob-store.js';
import type { Clock } from '../util/clock.js';
import type { EventFactory } from '../events/events.js';
import { CloseLease } from './close-lease.js';
import { parseKey } from './keys.js';
import { reclaimExpired } from './upload-completion.js';

const PAGE = 500;
const FILE_ID_IN_KEY = /\/([0-9a-f]{32})_[^/]*$/;
/**
 * An upload area no record names is left this long: init opens the area just before it
 * writes the record (on another instance, maybe).
 */
export const ORPHAN_AREA_MIN_AGE_MS = 10 * 60 * 1000;
/**
 * The start-up orphan sweep leaves objects younger than this: a record is committed
 * milliseconds after its object is written, so an hour is a wide margin even for a second
 * process (the CLI) starting beside a busy server.
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

export interface HousekeepingDeps {
  store: MetadataStore;
  blobs: BlobStore;
  telemetry: Telemetry;
  expiryMs: number;
  clock: Clock;
  /** Webhook events (upload.expired is written with the removal). */
  events?: EventFactory;
}

/**
 * Removes uploads idle for longer than the expiry, freeing their reservations, and reopens
 * completions whose lease ran out. One being assembled under a live lease is left alone.
 * Each removal re-checks state and idleness in its own write: a part may have arrived since
 * the page was read.
 */
export async function sweepExpired(d: HousekeepingDeps, now: number): Promise<number> {
  await reclaimAssemblies(d, now);
  const cutoff = now - d.expiryMs;
  let removed = 0;
  let expired = 0;
  let after: { updatedAt: number; id: string } | undefined;
  for (;;) {
    const page = await d.store.uploads.staleUploads(cutoff, PAGE, after);
    if (page.length === 0) break;
    for (const stale of page) {
      if (stale.state === 'completed') {
        // A close that fails (S3 unreachable) keeps its row for the next sweep, and this one goes on.
        if (await closeCompleted(d, stale, cutoff).catch(() => false)) removed++;
        continue;
      }
      // Only while still open: one completed since the page was read is closed by a later sweep.
      const result = await d.store.uploads.deleteUpload(stale.id, { states: ['open'], idleBefore: cutoff }, d.events?.uploadExpired(stale));
      if (result.outcome !== 'deleted') continue;
      await d.blobs.abortUpload({ uploadId: result.upload.id, ref: result.upload.blobRef });
      removed++;
      expired++;
    }
    const last = page[page.length - 1]!;
    after = { updatedAt: last.updatedAt, id: last.id };
  }
  d.telemetry.uploadsExpired(expired);
  return removed;
}

/**
 * A completed upload's row goes after its close (abortUpload) ran once more: the completion's
 * own may have failed. Under the file's close lease, and only while no move of the file is
 * journaled (close-lease.ts: on S3 the two must not interleave); otherwise the upload is left
 * for a later sweep. The close comes first (it keeps the object of a file still there,
 * whatever the row says), so a close that fails keeps the row for the next sweep to retry.
 * True when the row was removed.
 */
async function closeCompleted(d: HousekeepingDeps, upload: UploadRecord, cutoff: number): Promise<boolean> {
  const fileId = parseKey(upload.fileKey!).id; // a completed upload names its file
  const lease = await CloseLease.tryTake(d.store.leases, d.clock, fileId);
  if (!lease) return false;
  return lease.holding(async () => {
    // Asked once the lease is held: a move journaled after this waits for the lease (close-lease.ts).
    if ((await d.store.folders.movesOf([fileId])).length > 0) return false;
    await d.blobs.abortUpload({ uploadId: upload.id, ref: upload.blobRef });
    return (await d.store.uploads.deleteUpload(upload.id, { states: ['completed'], idleBefore: cutoff })).outcome === 'deleted';
  });
}

/** Completions whose instance died (lease run out): object removed, upload open again. */
async function reclaimAssemblies(d: HousekeepingDeps, now: number): Promise<number> {
  const at = { ...d, clock: { now: () => now } };
  let reopened = 0;
  let afterId = '';
  for (;;) {
    const page = await d.store.uploads.expiredAssemblies(now, PAGE, afterId);
    if (page.length === 0) return reopened;
    for (const upload of page) if (await reclaimExpired(at, upload)) reopened++;
    afterId = page[page.length - 1]!.id;
  }
}

export interface ReconcileResult {
  /** Completions interrupted by a crash, undone (object removed, upload open again). */
  reopened: number;
  /** Temporary files and part folders of no upload. */
  orphans: number;
  /** Whole objects no record names (F-13). */
  orphanObjects: number;
  /** Uploads expired while the server was down. */
  expired: number;
}

/**
 * Start-up (and any time): completions whose lease ran out are undone (object removed, upload
 * reopened with every part intact); temporary files of writers that died (or an hour old),
 * upload areas and old objects that no record names are removed; uploads that expired
 * meanwhile are swept. Safe while other instances share the store.
 */
export async function reconcileAfterCrash(d: HousekeepingDeps, now: number): Promise<ReconcileResult> {
  const reopened = await reclaimAssemblies(d, now);
  const orphans = (await d.blobs.removeTemporary(now - ORPHAN_MIN_AGE_MS)) + (await removeOrphanAreas(d, now - ORPHAN_AREA_MIN_AGE_MS));
  const orphanObjects = await d.blobs.removeOrphanObjects(orphanScan(d.store, now - ORPHAN_MIN_AGE_MS));
  const expired = await sweepExpired(d, now);
  return { reopened, orphans, orphanObjects, expired };
}

/** Upload areas of no upload (aborted or expired while a part streamed in, or a crash in init). */
async function removeOrphanAreas(d: HousekeepingDeps, before: number): Promise<number> {
  let removed = 0;
  for await (const page of d.blobs.uploadAreas(before)) {
    const known = await d.store.uploads.knownUploadIds(page.map((a) => a.handle.uploadId));
    for (const area of page) {
      if (known.has(area.handle.uploadId)) continue;
      await d.blobs.abortUpload(area.handle);
      removed++;
    }
  }
  return removed;
}

function orphanScan(store: MetadataStore, writtenBefore: number): OrphanScan {
  return {
    writtenBefore,
    named: async (keys) => {
      // By the id in the object's name ({id}_{filename}); a name without one is no file's.
      const ids = keys.map((key) => FILE_ID_IN_KEY.exec(key)?.[1]).filter((id): id is string => id !== undefined);
      const asked = new Set(keys);
      // Both keys of a move in progress are spared: one holds the record's bytes, the other is
      // about to (src/files/move-service.ts).
      const [files, moves] = await Promise.all([store.files.findFilesByIds(ids), store.folders.movesOf(ids)]);
      const named = [...files.map((f: FileRecord) => f.key), ...moves.flatMap((m) => [m.fromKey, m.toKey])];
      return new Set(named.filter((key) => asked.has(key)));
    },
    longKeys: async function* (minBytes) {
      let after: string | null = null;
      for (;;) {
        const page = await store.files.longKeys(minBytes, after, PAGE);
        if (page.length === 0) return;
        yield page;
        after = page[page.length - 1]!;
      }
    },
  };
}
