/**
 * tus 1.0 over our own services (why not @tus/server: it keeps its own upload state and
 * locks per process, while ours must hold to our principals, quota, reservations, BlobStore
 * and many instances). A tus upload IS an upload record (mode 'tus', or 'tus-partial' for a
 * concatenation's partials) with the native protocol's fixed-size parts; its completion is
 * the native completion, so the result is an ordinary file record. What tus adds:
 *  - offsets (state.ts): whole parts + one tail object;
 *  - PATCH (patch-writer.ts) under a per-upload lease in the database (lease.ts);
 *  - concatenation (concat.ts): a final upload's URL is /v1/tus/{file id}, since it is born
 *    complete; HEAD on it answers from the file record.
 */
import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import { actingUserId } from '../auth/guard.js';
import type { FileRecord, MetadataStore, UploadRecord } from '../db/types.js';
import { z } from 'zod';
import { InvalidInput, QuotaExceeded, TooLarge, TusProtocolError, UploadNotFound, UploadNotOpen, WrongState } from '../errors/index.js';
import { mayAccess, type FileService } from '../files/file-service.js';
import { filenameSchema, folderSchema, mimeSchema } from '../files/names.js';
import type { UploadService } from '../files/upload-service.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Clock } from '../util/clock.js';
import { concatenate } from './concat.js';
import { withUploadLease } from './lease.js';
import { recordTail, writeBody, type PatchInput } from './patch-writer.js';
import type { ConcatRequest } from './protocol.js';
import { isDeferred, isTusUpload, readState, tailKey, type TusMode, type TusState } from './state.js';

export interface TusDeps {
  uploads: UploadService;
  files: FileService;
  store: MetadataStore;
  blobs: BlobStore;
  clock: Clock;
  maxFileBytes: number;
}

export interface CreateRequest {
  length?: number;
  deferLength: boolean;
  metadata: Record<string, string>;
  concat: ConcatRequest;
}

/** What HEAD (and the answers to POST and PATCH) say about an upload. */
export interface TusInfo {
  id: string;
  /** The length, or the reservation (MAX_BODY_MB) while `deferred`. */
  length: number;
  offset: number;
  /** Created with Upload-Defer-Length and no Upload-Length received yet. */
  deferred?: true;
  metadata: Record<string, string>;
  concat?: 'partial' | 'final';
  /** A final's partial upload URLs, as its creation request gave them (when kept). */
  partialUrls?: string[];
  /** ISO time after which an unfinished upload is removed (absent once finished). */
  expiresAt?: string;
}

const FILE_ID = /^[0-9a-f]{32}$/;
const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;

const sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex characters' }).transform((v) => v.toLowerCase());

/** A metadata value through the same zod rule as the native routes' field. */
function field<T>(schema: z.ZodType<T>, value: unknown, key: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidInput('validation_error', `Upload-Metadata ${key}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** The metadata keys we keep (in the upload record), as HEAD gives them back. */
function metadataOf(u: { filename: string; mime: string; folder: string; sha256: string | null }, partial: boolean): Record<string, string> {
  if (partial) return {};
  return { filename: u.filename, filetype: u.mime, ...(u.folder ? { folder: u.folder } : {}), ...(u.sha256 ? { sha256: u.sha256 } : {}) };
}

export class TusService {
  constructor(private readonly d: TusDeps) {}

  private get patchDeps() {
    return { uploads: this.d.uploads, store: this.d.store.uploads, blobs: this.d.blobs, clock: this.d.clock };
  }

  infoOf(upload: UploadRecord, offset: number): TusInfo {
    const partial = upload.mode === 'tus-partial';
    return {
      id: upload.id,
      length: upload.size,
      offset,
      ...(isDeferred(upload) ? { deferred: true as const } : {}),
      metadata: metadataOf(upload, partial),
      ...(partial ? { concat: 'partial' as const } : {}),
      ...(upload.state === 'open' ? { expiresAt: this.d.uploads.expiresAt(upload) } : {}),
    };
  }

  /** POST: a new upload (with its first bytes when `body` is given), or a final concatenation. */
  async create(principal: Principal, req: CreateRequest, body?: PatchInput): Promise<TusInfo> {
    const m = req.metadata;
    const userId = actingUserId(principal, m.user_id);
    const filename = m.filename !== undefined || m.name !== undefined ? field(filenameSchema, m.filename ?? m.name, 'filename') : 'upload';
    const type = m.filetype ?? m.type;
    const mime = type ? (mimeSchema.safeParse(type).data ?? 'application/octet-stream') : 'application/octet-stream';
    const folder = m.folder ? field(folderSchema, m.folder, 'folder') : '';
    const sha256 = m.sha256 !== undefined ? field(sha256Hex, m.sha256, 'sha256') : undefined;

    if (req.concat?.kind === 'final') {
      if (body) throw new InvalidInput('validation_error', 'A final upload takes no body');
      const ids = req.concat.urls.map(partialId);
      const file = await withUploadLease(this.d.store.leases, this.d.clock, ids, () => concatenate(this.d, principal, ids, { userId, filename, mime, folder, sha256 }));
      // For HEAD: "Upload-Concat … its value as received in the upload creation request". The file
      // is committed and its partials spent: failing now would leave the client nothing to retry,
      // so a failure here costs that detail only (HEAD then answers "final").
      const kept = await this.d.store.uploads.recordConcat(file.id, req.concat.urls).then(() => true, () => false);
      return fileInfo(file, kept ? req.concat.urls : null);
    }
    // "The request MUST include one of the following headers: a) Upload-Length … b) Upload-Defer-Length: 1".
    if (req.length === undefined && !req.deferLength) throw new InvalidInput('validation_error', 'Upload-Length is required (or Upload-Defer-Length: 1)');
    if (req.length !== undefined && req.deferLength) throw new InvalidInput('validation_error', 'Send Upload-Length or Upload-Defer-Length: 1, not both');
    // A partial's length is known to the client that cut it, and each would hold MAX_BODY_MB.
    if (req.deferLength && req.concat?.kind === 'partial') throw new InvalidInput('validation_error', 'Upload-Concat: partial needs Upload-Length (a partial upload cannot defer its length)');
    const mode: TusMode = req.deferLength ? 'tus-deferred' : req.concat?.kind === 'partial' ? 'tus-partial' : 'tus';
    // SPEC: the quota is checked at creation; a deferred length reserves MAX_BODY_MB until it is known.
    const size = req.length ?? this.d.maxFileBytes;
    const [upload] = await this.d.uploads.init(userId, { mode, files: [{ name: filename, size, mime, sha256 }], folder }).catch((err: unknown) => {
      if (!req.deferLength || !(err instanceof QuotaExceeded) || err.code !== 'quota_exceeded') throw err;
      throw new InvalidInput('validation_error', `Upload-Defer-Length: an upload of unknown length reserves the MAX_BODY_MB limit (${size} bytes) until its length is known, more than the storage quota has free (${err.message}); send Upload-Length`);
    });
    if (upload!.size === 0) {
      // Born full: its one (empty) part is recorded now, and a plain upload completes at once.
      await this.d.uploads.putPart(principal, upload!.id, 1, Readable.from([]), { contentLength: 0 });
      return this.finishIfFull(principal, upload!, 0);
    }
    if (!body) return this.infoOf(upload!, 0);
    return this.patch(principal, upload!.id, 0, body);
  }

  async head(principal: Principal, id: string): Promise<TusInfo> {
    if (FILE_ID.test(id)) {
      const file = await this.d.files.getById(id);
      if (!file || !mayAccess(principal, file.userId)) throw new UploadNotFound();
      return fileInfo(file, await this.d.store.uploads.concatOf(file.id));
    }
    const upload = await this.owned(principal, id);
    const state = await readState(this.d.store.uploads, this.d.blobs, upload);
    return this.infoOf(upload, state.offset);
  }

  /**
   * PATCH: the body at `offset`, and `length` (Upload-Length) when sent; the new offset (and the
   * finished upload, once complete).
   */
  async patch(principal: Principal, id: string, offset: number, input: PatchInput, length?: number): Promise<TusInfo> {
    await this.owned(principal, id);
    return withUploadLease(this.d.store.leases, this.d.clock, [id], async (lost) => {
      // Read under the lease: the PATCH that held it before may have fixed the length or finished.
      let state = await readState(this.d.store.uploads, this.d.blobs, await this.owned(principal, id));
      // "If the offsets do not match, the Server MUST respond with the 409 Conflict status without modifying the upload resource."
      if (offset !== state.offset) throw new TusProtocolError('offset_mismatch', `Upload-Offset is ${offset}, the upload is at ${state.offset}`);
      if (length !== undefined) state = await this.fixLength(state, length, input);
      const { upload } = state;
      if (upload.state !== 'open') {
        if (input.length === 0 || offset === upload.size) return this.infoOf(upload, state.offset);
        throw new WrongState('upload_completed', 'This upload is already complete');
      }
      lost.addEventListener('abort', () => (input.body as Partial<Readable>).destroy?.(lost.reason as Error), { once: true });
      // A length fixed just now at the offset reached: the last part is the tail (or empty), not recorded yet.
      const lastPartWaits = state.offset === upload.size && state.whole < upload.partCount;
      const reached = await writeBody(this.patchDeps, principal, state, input);
      if (lastPartWaits) await recordTail(this.patchDeps, principal, state);
      return this.finishIfFull(principal, upload, reached);
    });
  }

  /**
   * Upload-Length on a PATCH. "If the length was deferred …, the Client MUST set the
   * Upload-Length header in the next PATCH request, once the length is known. Once set the
   * length MUST NOT be changed." A deferred upload takes it (its reservation shrinks to it);
   * any other upload must be sent its own length again, or it is a 400.
   */
  private async fixLength(state: TusState, length: number, input: PatchInput): Promise<TusState> {
    const { upload } = state;
    if (!isDeferred(upload)) {
      if (length === upload.size) return state;
      throw new InvalidInput('validation_error', `Upload-Length: this upload's length is ${upload.size} and cannot change`);
    }
    if (length > this.d.maxFileBytes) throw new TooLarge('file_too_large', `Upload-Length: larger than the ${this.d.maxFileBytes}-byte limit`);
    if (length < state.offset) throw new InvalidInput('validation_error', `Upload-Length: ${length} is less than the ${state.offset} bytes already received`);
    if (input.length !== undefined && state.offset + input.length > length) throw new TooLarge('payload_too_large', `The body goes past Upload-Length (${length} bytes)`);
    const r = await this.d.store.uploads.setLength(upload.id, length, this.d.clock.now());
    if (r.outcome === 'not_found') throw new UploadNotFound();
    if (r.outcome === 'kept') {
      if (r.upload.state !== 'open') throw new UploadNotOpen();
      // Its length was fixed meanwhile (by a writer outside the PATCH lease): the same value or a 400.
      if (!isDeferred(r.upload)) return this.fixLength(await readState(this.d.store.uploads, this.d.blobs, r.upload), length, input);
      // Still deferred: its reservation was made under a smaller MAX_BODY_MB than today's.
      throw new TooLarge('file_too_large', `Upload-Length: larger than the ${r.upload.size} bytes reserved for this upload`);
    }
    return readState(this.d.store.uploads, this.d.blobs, r.upload);
  }

  /** Completes a plain tus upload whose last byte arrived; a partial waits for its final. */
  private async finishIfFull(principal: Principal, upload: UploadRecord, offset: number): Promise<TusInfo> {
    if (offset < upload.size || upload.mode !== 'tus') return this.infoOf(upload, offset);
    try {
      await this.d.uploads.complete(principal, { uploadId: upload.id });
    } catch (err) {
      // The bytes are all there and still refused (sha256 of Upload-Metadata): nothing a resend
      // can mend, so the upload goes and its reservation with it.
      if (err instanceof InvalidInput && err.code === 'checksum_mismatch') await this.d.uploads.abort(principal, upload.id).catch(() => undefined);
      throw err;
    }
    return { ...this.infoOf({ ...upload, state: 'completed' }, upload.size) };
  }

  /** DELETE (termination): the upload, its parts and tail go, and its reservation is freed. */
  async terminate(principal: Principal, id: string): Promise<void> {
    if (FILE_ID.test(id)) {
      await this.head(principal, id); // 404 when not the caller's
      throw new WrongState('upload_completed', 'This upload is finished: delete the file instead');
    }
    const upload = await this.owned(principal, id);
    const state = await readState(this.d.store.uploads, this.d.blobs, upload);
    await this.d.uploads.abort(principal, id);
    if (state.tail > 0) await this.d.blobs.delete(tailKey(upload, state.whole + 1)).catch(() => undefined);
  }

  private async owned(principal: Principal, id: string): Promise<UploadRecord> {
    if (!UPLOAD_ID.test(id)) throw new UploadNotFound();
    const upload = await this.d.uploads.getOwned(principal, id);
    if (!isTusUpload(upload)) throw new UploadNotFound();
    return upload;
  }
}

/** A final upload: the file it became, and the partial URLs it was made of (null: not kept). */
function fileInfo(file: FileRecord, partialUrls: string[] | null): TusInfo {
  return { id: file.id, length: file.size, offset: file.size, metadata: metadataOf(file, false), concat: 'final', ...(partialUrls ? { partialUrls } : {}) };
}

/** The upload id in a partial's URL (absolute, or a path): its last segment under /v1/tus/. */
function partialId(url: string): string {
  let path: string;
  try {
    path = new URL(url, 'http://x').pathname;
  } catch {
    throw new InvalidInput('validation_error', `Upload-Concat: not a URL: ${url}`);
  }
  const match = /^\/v1\/tus\/([A-Za-z0-9_-]{8,64})$/.exec(path);
  if (!match || FILE_ID.test(match[1]!)) throw new InvalidInput('validation_error', `Upload-Concat: not a partial upload URL: ${url}`);
  return match[1]!;
}
