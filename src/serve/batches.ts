/**
 * ZIP batch tokens: checked up front (every key must exist and be the caller's), limited in
 * count and bytes, random (256 bits), stored only as their sha256, reusable until expiry.
 * A batch row names its files by id, never by copies of their keys, and a user holds at
 * most `maxOpen` unexpired tokens (F-08: a POST of 9,400 long keys wrote 10 MB).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { BatchRecord, FileRecord, MetadataStore } from '../db/types.js';
import { mayAccess } from '../files/file-service.js';
import { nameProblem } from '../files/names.js';
import { InvalidInput, NotFound, TooLarge, LimitReached } from '../errors/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Compression, ZipJob, ZipSources } from './zip.js';

export interface BatchLimits {
  maxFiles: number;
  maxBytes: number;
  ttlSeconds: number;
  /** Unexpired batches per user (429 too_many_batches). */
  maxOpen: number;
}

export interface BatchRequest {
  keys: string[];
  name?: string;
  compression?: Compression;
  /** When given, every key must belong to this user. */
  userId?: string;
}

export interface CreatedBatch {
  token: string;
  expiresAt: number;
  count: number;
  totalSize: number;
}

const FILE_ID_PREFIX = /^([0-9a-f]{32})_/;
/** A batch ready to stream: the archive's file name and the job producing its bytes. */
export interface BatchArchive {
  name: string;
  job: ZipJob;
}

export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** The archive's file name: the caller's, with `.zip` added when missing; `files.zip` by default. */
export function archiveName(name: string | undefined): string {
  if (name === undefined || name.trim() === '') return 'files.zip';
  const problem = nameProblem(name);
  if (problem) throw new InvalidInput('invalid_name', `body.name: ${problem}`);
  return /\.zip$/i.test(name) ? name : `${name}.zip`;
}

export class BatchService {
  constructor(
    private readonly store: MetadataStore,
    private readonly limits: BatchLimits,
    /** Where the archive's records and bytes come from (records by file id). */
    private readonly sources: ZipSources,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Batch rows speak unix seconds. */
  private seconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  async create(principal: Principal, req: BatchRequest, now = this.seconds()): Promise<CreatedBatch> {
    const keys = [...new Set(req.keys)];
    if (keys.length === 0) throw new InvalidInput('empty_batch', 'body.keys: at least one key is needed');
    if (keys.length > this.limits.maxFiles) {
      throw new TooLarge('too_many_files', `A batch holds at most ${this.limits.maxFiles} files`);
    }
    const name = archiveName(req.name);
    const userId = principal.userId ?? req.userId ?? null;
    // Refused before the keys are looked at; createBatch re-checks in the insert's
    // transaction, which is what makes the cap exact.
    if (userId !== null) await this.assertRoom(userId, now);
    // Ownership is read from the key itself; the records come by the id inside each key, 500
    // per query (a look-up per 1 KB key cost ~55 µs: 9,400 of them held the event loop for
    // half a second). A record counts only when its key is exactly the one asked for.
    const ids = new Map<string, string>();
    for (const key of keys) {
      const id = this.idIfAllowed(principal, key, req.userId);
      if (id) ids.set(key, id);
    }
    const byId = new Map((await this.store.files.findFilesByIds([...ids.values()])).map((f) => [f.id, f]));
    const found: FileRecord[] = [];
    const missing: string[] = [];
    for (const key of keys) {
      const file = byId.get(ids.get(key) ?? '');
      if (file && file.key === key) found.push(file);
      else missing.push(key);
    }
    if (missing.length > 0) {
      throw new NotFound('files_not_found', `${missing.length} of the keys are missing or not yours`, { missing });
    }
    const totalSize = found.reduce((sum, f) => sum + f.size, 0);
    if (totalSize > this.limits.maxBytes) {
      throw new TooLarge('batch_too_large', `A batch holds at most ${this.limits.maxBytes} bytes`);
    }
    await this.store.batches.pruneBatches(now);
    const token = randomBytes(32).toString('base64url');
    const batch: BatchRecord = {
      tokenHash: hashToken(token),
      userId,
      name,
      compression: req.compression ?? 'store',
      fileIds: found.map((f) => f.id),
      fileCount: found.length,
      totalSize,
      createdAt: now,
      expiresAt: now + this.limits.ttlSeconds,
    };
    await this.store.batches.createBatch(batch, this.limits.maxOpen);
    return { token, expiresAt: batch.expiresAt, count: found.length, totalSize };
  }

  /** 429 too_many_batches when `userId` already holds the most unexpired batches (one indexed count). */
  async assertRoom(userId: string, now = this.seconds()): Promise<void> {
    if ((await this.store.batches.countOpenBatches(userId, now)) >= this.limits.maxOpen) {
      throw new LimitReached('too_many_batches', `At most ${this.limits.maxOpen} batch downloads may be unexpired at once; reuse a token or wait for one to expire`);
    }
  }

  /** The batch a token stands for; 404 when malformed, unknown or expired. */
  async open(token: string, now = this.seconds()): Promise<BatchRecord> {
    const batch = TOKEN_PATTERN.test(token) ? await this.store.batches.getBatch(hashToken(token), now) : null;
    if (!batch) throw new NotFound('batch_not_found', 'Batch download not found or expired');
    return batch;
  }

  /**
   * Starts the ZIP of the batch a token stands for (404 as `open`). A stored batch's entries
   * are the records found now (a file deleted since the batch was made is left out), which
   * fix its exact length (`job.length`); one deleted or changed after this point cuts the
   * transfer (zip-stored.ts). A compressed batch looks each record up as its entry comes and
   * leaves out any deleted meanwhile.
   */
  async openArchive(token: string, now = this.seconds()): Promise<BatchArchive> {
    const batch = await this.open(token, now);
    // The ZIP writers (archiver, yazl and their dependencies: ~10 MB of memory) load with the
    // first batch download, not at start.
    if (batch.compression === 'deflate') {
      const { zipStream } = await import('./zip.js');
      return { name: batch.name, job: zipStream(batch.fileIds, this.sources, { compression: 'deflate' }) };
    }
    const { storedZipStream } = await import('./zip-stored.js');
    return { name: batch.name, job: storedZipStream(await this.recordsInOrder(batch.fileIds), this.sources) };
  }

  /** The records of `ids` still there, in the batch's order. */
  private async recordsInOrder(ids: readonly string[]): Promise<FileRecord[]> {
    const byId = new Map((await this.store.files.findFilesByIds([...ids])).map((f) => [f.id, f]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * The file id in `key` when the caller may put it in a batch, else null. Only the owner and
   * the id are read (parsing every name rule cost ~15 µs a key): a key malformed in any other
   * way matches no record's key exactly, records' keys being built from validated parts, so
   * it is reported missing like any key that is not there.
   */
  private idIfAllowed(principal: Principal, key: string, userId: string | undefined): string | null {
    const ownerEnd = key.startsWith('storage/') ? key.indexOf('/', 8) : -1;
    const id = FILE_ID_PREFIX.exec(key.slice(key.lastIndexOf('/') + 1))?.[1];
    if (ownerEnd < 0 || id === undefined) return null;
    const owner = key.slice(8, ownerEnd);
    return mayAccess(principal, owner) && (userId === undefined || owner === userId) ? id : null;
  }
}
