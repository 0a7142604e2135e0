/**
 * Finished files: look-up with ownership, listing, deletion, and the one-request upload.
 * A user sees only their own files (an admin and a service see any); for anyone else a key
 * answers 404 exactly as a missing one does, so existence does not leak.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { FileRecord, ListOrder, ListPage, ListQuery, ListSort, MetadataStore, QuotaCheck, Usage } from '../db/types.js';
import { defaultOrder } from '../db/listing.js';
import { InvalidInput, FileNotFound, TooLarge, QuotaExceeded } from '../errors/index.js';
import type { BlobStore } from '../storage/blob-store.js';
import { noTelemetry, type Telemetry } from '../ops/telemetry.js';
import { noEvents, type EventFactory } from '../events/events.js';
import { buildKey, newFileId, parseKey } from './keys.js';
import { filenameSchema, folderSchema, mimeSchema } from './names.js';

export interface FileLimits {
  maxFileBytes: number;
  defaultQuotaBytes: number;
  /** Per user: uploads open at once (429) and files stored, 0 for no cap (413). */
  maxOpenUploads: number;
  maxFilesPerUser: number;
  /** Files in one one-request upload (413 too_many_files). */
  maxFilesPerRequest: number;
}

/** One part of a multipart/form-data body as @fastify/multipart yields it (what is read of it). */
export type FormPart =
  | { type: 'field'; fieldname: string; value: unknown }
  | { type: 'file'; fieldname: string; filename: string; mimetype: string; file: Readable };

/** Clients omit the folder field, or send it empty, for none. */
const formFolder = z.preprocess((v) => (v === '' || v === null ? undefined : v), folderSchema.optional());

function formField<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidInput('validation_error', `body.${field}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** What GET /v1/files/usage reports. */
export interface UsageReport extends Usage {
  userId: string;
  quotaBytes: number;
}

export interface ListOptions {
  folder?: string;
  recursive: boolean;
  limit: number;
  cursor?: string;
  /** Default date, newest first (db/listing.ts has each sort's default order). */
  sort?: ListSort;
  order?: ListOrder;
  /** Filename substring, ASCII case folded; empty filters nothing. */
  q?: string;
}

/** May this principal see files of `ownerId`? */
export function mayAccess(principal: Principal, ownerId: string): boolean {
  return principal.kind === 'service' || principal.role === 'admin' || principal.userId === ownerId;
}

/**
 * A keyset cursor: base64url JSON of the last row's sort value and id. Newest first keeps the
 * two-element form older clients hold; other orders carry their sort and order, so a cursor
 * is refused (400) by a listing in another order rather than resuming at a wrong place.
 */
function encodeCursor(file: FileRecord, sort: ListSort, order: ListOrder): string {
  const value = sort === 'date' ? file.createdAt : sort === 'name' ? file.filename : file.size;
  const body = sort === 'date' && order === 'desc' ? [file.createdAt, file.id] : [sort, order, value, file.id];
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

const badCursor = () => new InvalidInput('invalid_cursor', 'query.cursor: not a cursor this server issued for this sort and order');

function decodeCursor(cursor: string, sort: ListSort, order: ListOrder): NonNullable<ListQuery['after']> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parsed)) throw badCursor();
  const newestFirst = sort === 'date' && order === 'desc';
  const [value, id] = parsed.length === 2 && newestFirst ? parsed : parsed.length === 4 && !newestFirst && parsed[0] === sort && parsed[1] === order ? parsed.slice(2) : [];
  if (typeof id !== 'string' || id.length >= 64) throw badCursor();
  if (sort === 'date' && typeof value === 'string' && value.length < 40) return { createdAt: value, id };
  if (sort === 'name' && typeof value === 'string' && value.length <= 1024) return { filename: value, id };
  if (sort === 'size' && Number.isSafeInteger(value) && (value as number) >= 0) return { size: value as number, id };
  throw badCursor();
}

export class FileService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly limits: FileLimits,
    private readonly telemetry: Telemetry = noTelemetry,
    /** Webhook events, written with the changes they report (uploads and moves use it too). */
    readonly events: EventFactory = noEvents,
  ) {}

  quotaCheck(userId: string): QuotaCheck {
    return {
      userId,
      defaultQuotaBytes: this.limits.defaultQuotaBytes,
      maxOpenUploads: this.limits.maxOpenUploads,
      maxFiles: this.limits.maxFilesPerUser,
    };
  }

  /** The record for `key` if it exists and `principal` may see it; else 404. */
  async getVisible(principal: Principal, key: string): Promise<FileRecord> {
    const parts = parseKey(key);
    const file = mayAccess(principal, parts.userId) ? await this.store.files.getFile(key) : null;
    if (!file) throw new FileNotFound();
    return file;
  }

  /** The record for `key` with no ownership check (signed URLs, public storage). */
  async getByKey(key: string): Promise<FileRecord | null> {
    return this.store.files.getFile(key);
  }

  /** The record with this file id, with no ownership check (ZIP batches, checked when made). */
  async getById(id: string): Promise<FileRecord | null> {
    return this.store.files.getFileById(id);
  }

  async list(userId: string, opts: ListOptions): Promise<ListPage & { nextCursor: string | null }> {
    const sort = opts.sort ?? 'date';
    const order = opts.order ?? defaultOrder(sort);
    const page = await this.store.files.listFiles(userId, {
      // No folder names the user's root: recursive=false then means the files at the root only.
      folder: opts.folder ?? (opts.recursive ? undefined : ''),
      recursive: opts.recursive,
      limit: opts.limit,
      sort,
      order,
      nameContains: opts.q || undefined,
      after: opts.cursor ? decodeCursor(opts.cursor, sort, order) : undefined,
    });
    const last = page.files[page.files.length - 1];
    return { ...page, nextCursor: page.hasMore && last ? encodeCursor(last, sort, order) : null };
  }

  /** Removes the record first (readers see 404 at once), then the bytes. */
  async delete(principal: Principal, key: string): Promise<FileRecord> {
    const file = await this.getVisible(principal, key);
    const removed = await this.store.files.deleteFile(key, this.events.fileDeleted(file));
    if (!removed) throw new FileNotFound();
    await this.blobs.delete(key);
    return removed;
  }

  /** Removes files this request stored before it failed (records first, then bytes). */
  async discard(files: FileRecord[]): Promise<void> {
    for (const file of files) {
      await this.store.files.deleteFile(file.key, this.events.fileDeleted(file)); // its file.created went out
      await this.blobs.delete(file.key).catch(() => undefined);
    }
  }

  /** The user's quota (their override or the default) and ledger. */
  async usage(userId: string): Promise<UsageReport> {
    const [user, usage] = await Promise.all([this.store.users.getUserById(userId), this.store.files.usage(userId)]);
    return { userId, quotaBytes: user?.quotaBytes ?? this.limits.defaultQuotaBytes, ...usage };
  }

  /**
   * The one-request upload of one file: streams to a temporary place within the size and
   * quota limits, promotes it, then commits the record (quota re-checked atomically).
   */
  async storeObject(userId: string, meta: { folder: string; filename: string; mime: string }, body: Readable): Promise<FileRecord> {
    const usage = await this.usage(userId);
    const max = this.limits.maxFilesPerUser;
    // Refused before a byte is stored; the insert re-checks atomically.
    if (max > 0 && usage.fileCount + usage.openUploads >= max) {
      throw new QuotaExceeded(`At most ${max} files per user: ${usage.fileCount} stored and ${usage.openUploads} open uploads`, 'file_count_exceeded');
    }
    const remaining = Math.max(0, usage.quotaBytes - usage.usedBytes - usage.reservedBytes);
    const maxBytes = Math.min(this.limits.maxFileBytes, remaining);
    const key = buildKey({ userId, folder: meta.folder, id: newFileId(), filename: meta.filename });
    const written = await this.blobs.writeObject(key, body, {
      maxBytes,
      md5: false,
      tooLarge: () =>
        maxBytes === this.limits.maxFileBytes
          ? new TooLarge('file_too_large', `File larger than ${this.limits.maxFileBytes} bytes`)
          : new QuotaExceeded(`Storage quota exceeded: ${remaining} bytes free, the file is larger`),
    });
    this.telemetry.bytesIn(written.size);
    const file: FileRecord = {
      id: parseKey(key).id,
      key,
      userId,
      folder: meta.folder,
      filename: meta.filename,
      size: written.size,
      mime: meta.mime,
      sha256: written.sha256,
      createdAt: new Date().toISOString(),
    };
    try {
      await this.store.files.insertFile(file, this.quotaCheck(userId), this.events.fileCreated(file));
    } catch (err) {
      await this.blobs.delete(key);
      throw err;
    }
    return file;
  }

  /**
   * POST /v1/files: every file part of the form, each into `folder` (a `folder` field changes
   * it for the files after it). All or nothing: when one fails, the files stored before it
   * are removed before the error goes on, since the client is told the request failed.
   */
  async storeForm(userId: string, parts: AsyncIterable<FormPart>, folder = ''): Promise<FileRecord[]> {
    const max = this.limits.maxFilesPerRequest;
    const stored: FileRecord[] = [];
    try {
      for await (const part of parts) {
        if (part.type === 'field') {
          if (part.fieldname === 'folder') folder = formField(formFolder, part.value, 'folder') ?? '';
          continue;
        }
        // F-07: every file is a record and an inode, whatever its size (1000 empty files cost no quota).
        if (stored.length >= max) throw new TooLarge('too_many_files', `At most ${max} files per request`);
        const filename = formField(filenameSchema, part.filename, `${part.fieldname}.filename`);
        // The canonical form (F-01), never the raw part header.
        const mime = mimeSchema.safeParse(part.mimetype).data ?? 'application/octet-stream';
        stored.push(await this.storeObject(userId, { folder, filename, mime }, part.file));
      }
    } catch (err) {
      await this.discard(stored);
      throw err;
    }
    if (stored.length === 0) throw new InvalidInput('validation_error', 'body: at least one file field is required');
    return stored;
  }
}
