/**
 * Upload housekeeping: the expiry sweep (periodic) and the start-up reconcile. Both page
 * through rows and directories (F-07: 100k open uploads must not be loaded at once), and
 * both take an upload's lock before removing it, so they never race a part or a completion.
 */
import type { FileRecord, MetadataStore, UploadRecord } from '../db/types.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { BlobStore, OrphanScan } from '../storage/blob-store.js';
import type { KeyedMutex } from './keyed-mutex.js';

const PAGE = 500;
const FILE_ID_IN_KEY = /\/([0-9a-f]{32})_[^/]*$/;
/**
 * The start-up orphan sweep leaves objects younger than this: a record is committed
 * milliseconds after its object is written, so an hour is a wide margin even for a second
 * process (the CLI) starting beside a busy server.
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

export interface HousekeepingDeps {
  store: MetadataStore;
  blobs: BlobStore;
  locks: KeyedMutex;
  telemetry: Telemetry;
  expiryMs: number;
}

/**
 * Removes uploads idle for longer than the expiry, freeing their reservations. One being
 * assembled is left alone: its completion is running (or, after a crash, reconcile reopens
 * it). Each is re-read under its lock: a part may have arrived since the page was read.
 */
export async function sweepExpired(d: HousekeepingDeps, now: number): Promise<number> {
  const cutoff = now - d.expiryMs;
  let removed = 0;
  let expired = 0;
  let after: { updatedAt: number; id: string } | undefined;
  for (;;) {
    const page = await d.store.uploads.staleUploads(cutoff, PAGE, after);
    if (page.length === 0) break;
    for (const stale of page) {
      const gone = await d.locks.run(stale.id, async (): Promise<UploadRecord | null> => {
        const current = await d.store.uploads.getUpload(stale.id);
        if (!current || current.state === 'assembling' || current.updatedAt >= cutoff) return null;
        await d.store.uploads.deleteUpload(current.id);
        await d.blobs.deleteParts(current.id);
        return current;
      });
      if (gone) {
        removed++;
        if (gone.state !== 'completed') expired++;
      }
    }
    const last = page[page.length - 1]!;
    after = { updatedAt: last.updatedAt, id: last.id };
  }
  d.telemetry.uploadsExpired(expired);
  return removed;
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
 * Start-up: a completion interrupted by a crash is undone (its object removed, the upload
 * reopened with every part intact); temporary files, unknown part folders and old objects
 * that no record names are removed; uploads that expired meanwhile are swept.
 */
export async function reconcileAfterCrash(d: HousekeepingDeps, now: number): Promise<ReconcileResult> {
  let reopened = 0;
  let afterId = '';
  for (;;) {
    const page = await d.store.uploads.uploadsInState('assembling', PAGE, afterId);
    if (page.length === 0) break;
    for (const upload of page) {
      if (upload.fileKey && !(await d.store.files.getFile(upload.fileKey))) await d.blobs.delete(upload.fileKey);
      await d.store.uploads.abortAssembly(upload.id, Date.now());
      reopened++;
    }
    afterId = page[page.length - 1]!.id;
  }
  const orphans = await d.blobs.removeOrphans((ids) => d.store.uploads.knownUploadIds(ids));
  const orphanObjects = await d.blobs.removeOrphanObjects(orphanScan(d.store, now - ORPHAN_MIN_AGE_MS));
  const expired = await sweepExpired(d, now);
  return { reopened, orphans, orphanObjects, expired };
}

function orphanScan(store: MetadataStore, writtenBefore: number): OrphanScan {
  return {
    writtenBefore,
    named: async (keys) => {
      // By the id in the object's name ({id}_{filename}); a name without one is no file's.
      const ids = keys.map((key) => FILE_ID_IN_KEY.exec(key)?.[1]).filter((id): id is string => id !== undefined);
      const asked = new Set(keys);
      return new Set((await store.files.findFilesByIds(ids)).map((f: FileRecord) => f.key).filter((key) => asked.has(key)));
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
