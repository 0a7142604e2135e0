/**
 * `copy-data`: every user, file record and object of one deployment (its database and
 * storage) into another database, another storage, or both, through the ports only — so any
 * engine pair works (SQLite → PostgreSQL, local disk → S3, S3 → a directory).
 *
 * Resumable: what the target already holds is skipped (a record with the same id, size and
 * sha256 under the same key; an object whose bytes hash to the record's sha256), so a run cut
 * short is simply run again. Per file, the object comes first and the record after it, so a
 * target record never names bytes that are not there; an object left without its record by a
 * cut is found again by the next run (or removed by the target's orphan sweep).
 *
 * Not copied: open uploads (their clients start them again), refresh sessions and revocations
 * (every user logs in again; the target keeps its own signing keys, so no access token of the
 * source is accepted there — a key copied without its revocation list would revive revoked
 * tokens), ZIP batch links, leases, the partial URLs a tus final upload was made from (its
 * HEAD then answers plain `Upload-Concat: final`). The quota ledger is rebuilt by the target
 * as each record is inserted.
 */
import type { FileRecord, MetadataStore } from '../db/types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { copyObject } from './copy-data-objects.js';
import type { Progress } from './copy-data-progress.js';

export interface CopyEnds {
  store: MetadataStore;
  /** Absent for the target when only records are copied (the objects stay where they are). */
  blobs?: BlobStore;
}

export interface CopyTargets {
  store?: MetadataStore;
  blobs?: BlobStore;
}

export interface CopyOptions {
  /** Files copied at once. */
  parallel: number;
  /** Take a target object of the right size as copied without hashing it. */
  sizeOnly: boolean;
  /** Made once the totals are known (they are counted first). */
  progress?: (total: { files: number; bytes: number }) => Progress;
  /** A line about one file (a failure, a replaced object). */
  report(line: string): void;
}

export interface CopySummary {
  users: { copied: number; present: number };
  records: { copied: number; present: number };
  objects: { copied: number; copiedBytes: number; present: number; replaced: number; checkedBy: 'sha256' | 'size' };
  failed: number;
  files: number;
  bytes: number;
  /** Uploads open or being completed in the source: not copied. */
  openUploads: number;
}

/** The target cannot take this copy at all (a user id clash): nothing per file would help. */
export class CopyConflict extends Error {}

const PAGE = 500;

/** Every file record of the store, in key order, a page at a time (the keys are the index). */
async function* fileRecords(store: MetadataStore): AsyncGenerator<FileRecord> {
  let after: string | null = null;
  for (;;) {
    const keys = await store.files.longKeys(0, after, PAGE);
    if (keys.length === 0) return;
    const records = await Promise.all(keys.map((k) => store.files.getFile(k)));
    for (const r of records) if (r) yield r;
    after = keys[keys.length - 1]!;
  }
}

async function countFiles(store: MetadataStore): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const f of fileRecords(store)) {
    files += 1;
    bytes += f.size;
  }
  return { files, bytes };
}

/**
 * Users with their password hashes, roles, e-mail and state; soft-deleted users are left out.
 * Quotas are lifted until the files are in (a user may hold more than a quota lowered later),
 * and put back by the returned function.
 */
async function copyUsers(from: MetadataStore, to: MetadataStore, summary: CopySummary): Promise<() => Promise<void>> {
  const quotas: [string, number | null][] = [];
  for (const u of await from.users.listUsers()) {
    let result;
    try {
      result = await to.users.createUserIfAbsent({ id: u.id, username: u.username, email: u.email, passwordHash: u.passwordHash, role: u.role, createdAt: u.createdAt });
    } catch (err) {
      throw new CopyConflict(`user "${u.username}" (${u.id}) cannot be created in the target: ${(err as Error).message}`);
    }
    if (result.user.id !== u.id) {
      throw new CopyConflict(`the target already has a user "${result.user.username}" with another id (${result.user.id}, source: ${u.id})`);
    }
    await to.users.updateUser(u.id, { role: u.role, passwordHash: u.passwordHash, email: u.email, isActive: u.isActive, quotaBytes: null });
    quotas.push([u.id, u.quotaBytes]);
    summary.users[result.created ? 'copied' : 'present'] += 1;
  }
  return async () => {
    for (const [id, quotaBytes] of quotas) await to.users.updateUser(id, { quotaBytes });
  };
}

const sameFile = (a: FileRecord, b: FileRecord): boolean => a.id === b.id && a.userId === b.userId && a.size === b.size && a.sha256 === b.sha256;

/** 'absent': the record may be inserted; 'present': the same record is there; else why neither. */
async function recordConflict(file: FileRecord, to: MetadataStore): Promise<'present' | 'absent' | string> {
  const atKey = await to.files.getFile(file.key);
  if (atKey) return sameFile(atKey, file) ? 'present' : `the target holds another file under this key (id ${atKey.id}, ${atKey.size} bytes)`;
  const byId = await to.files.getFileById(file.id);
  if (byId) return `the target holds this file id under another key (${byId.key}): moved in the source since the last run?`;
  return 'absent';
}

async function copyFile(file: FileRecord, source: CopyEnds, targets: CopyTargets, opts: CopyOptions, summary: CopySummary, progress?: Progress): Promise<void> {
  let credited = 0;
  const credit = (n: number): void => {
    credited += n;
    progress?.credit(n);
  };
  const fail = (reason: string): void => {
    summary.failed += 1;
    opts.report(`FAILED ${file.key}: ${reason}`);
  };
  try {
    const record = targets.store ? await recordConflict(file, targets.store) : 'present';
    if (record !== 'present' && record !== 'absent') return fail(record);
    if (targets.blobs && source.blobs) {
      const outcome = await copyObject(file, source.blobs, targets.blobs, { sizeOnly: opts.sizeOnly, credit });
      if (outcome.kind === 'failed') return fail(outcome.reason);
      if (outcome.kind === 'present') summary.objects.present += 1;
      else {
        summary.objects.copied += 1;
        summary.objects.copiedBytes += file.size;
        if (outcome.replaced) {
          summary.objects.replaced += 1;
          opts.report(`replaced ${file.key}: the target held other bytes under this key`);
        }
      }
    }
    if (targets.store) {
      if (record === 'absent') {
        // The ledger counts it; quotas are lifted for the copy (copyUsers).
        await targets.store.files.insertFile(file, { userId: file.userId, defaultQuotaBytes: Number.MAX_SAFE_INTEGER });
        summary.records.copied += 1;
      } else summary.records.present += 1;
    }
  } finally {
    progress?.fileDone(Math.max(0, file.size - credited));
  }
}

export async function copyData(source: CopyEnds, targets: CopyTargets, opts: CopyOptions): Promise<CopySummary> {
  if (!targets.store && !targets.blobs) throw new TypeError('copyData: no target');
  if (targets.blobs && !source.blobs) throw new TypeError('copyData: a target storage needs the source storage');
  const total = await countFiles(source.store);
  const summary: CopySummary = {
    users: { copied: 0, present: 0 },
    records: { copied: 0, present: 0 },
    objects: { copied: 0, copiedBytes: 0, present: 0, replaced: 0, checkedBy: opts.sizeOnly ? 'size' : 'sha256' },
    failed: 0,
    ...total,
    openUploads: (await source.store.uploads.countUploads('open')) + (await source.store.uploads.countUploads('assembling')),
  };
  const restoreQuotas = targets.store ? await copyUsers(source.store, targets.store, summary) : async () => {};
  const progress = opts.progress?.(total);
  progress?.start();
  try {
    // Workers share one generator (its next() calls queue); the first thrown error stops them all.
    const files = fileRecords(source.store);
    let stop: unknown = null;
    const worker = async (): Promise<void> => {
      while (stop === null) {
        const next = await files.next();
        if (next.done) return;
        try {
          await copyFile(next.value, source, targets, opts, summary, progress);
        } catch (err) {
          stop ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel) }, worker));
    if (stop !== null) throw stop;
  } finally {
    progress?.stop();
    await restoreQuotas();
  }
  return summary;
}
