/**
 * Errors as domain conditions, free of HTTP: stores and services throw these, and the HTTP
 * error handler (src/http/error-handler.ts) alone turns a `code` into a status and headers.
 * Classes are named for what went wrong (jose's style); where many codes share a condition,
 * one class takes the code. Programmer mistakes stay plain `Error`s (a 500).
 */
import type { ErrorCode } from './codes.js';

export { ERROR_CODES, isErrorCode, type ErrorCode } from './codes.js';

export interface AppErrorOptions {
  /** Extra JSON members of the error body (e.g. the list of missing keys). */
  details?: Record<string, unknown>;
  /** When a retry may succeed (seconds); the handler sends it as Retry-After. */
  retryAfterSeconds?: number;
  /** The object's size, for an unsatisfiable range (the handler's Content-Range). */
  objectSize?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly objectSize: number | undefined;

  constructor(code: ErrorCode, message: string, opts: AppErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = opts.details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.objectSize = opts.objectSize;
  }
}

type InvalidInputCode = Extract<
  ErrorCode,
  | 'validation_error' | 'user_id_required' | 'invalid_key' | 'invalid_cursor' | 'invalid_upload_id' | 'invalid_checksum'
  | 'checksum_mismatch' | 'part_size_mismatch' | 'invalid_part_number' | 'upload_incomplete' | 'multipart_required'
  | 'expires_in_too_large' | 'expires_hours_too_large' | 'expires_hours_too_small' | 'role_above_user' | 'invalid_scope'
  | 'empty_batch' | 'invalid_name' | 'checksum_algorithm_unsupported' | 'invalid_move'
>;

/** The request itself is wrong: retrying it unchanged cannot succeed. */
export class InvalidInput extends AppError {
  constructor(code: InvalidInputCode, message: string, details?: Record<string, unknown>) {
    super(code, message, { details });
  }
}

/** No credentials, or credentials that do not identify anyone. Never says why a token failed. */
export class NotAuthenticated extends AppError {
  constructor(message = 'Authentication required', code: Extract<ErrorCode, 'unauthorized' | 'invalid_credentials'> = 'unauthorized') {
    super(code, message);
  }
}

/** A token (or service / metrics secret) was sent and is not acceptable. */
export class InvalidToken extends AppError {
  constructor(message = 'Invalid or expired token') {
    super('invalid_token', message);
  }
}

type NotAllowedCode = Extract<
  ErrorCode,
  'insufficient_scope' | 'forbidden_user' | 'csrf_rejected' | 'not_a_user' | 'user_disabled' | 'invalid_signature' | 'url_expired' | 'upload_url_used' | 'upload_url_cannot_read'
>;

/** The caller is known and may not do this. */
export class NotAllowed extends AppError {
  constructor(code: NotAllowedCode, message: string) {
    super(code, message);
  }
}

type NotFoundCode = Extract<ErrorCode, 'file_not_found' | 'files_not_found' | 'upload_not_found' | 'user_not_found' | 'batch_not_found'>;

/** Nothing there, or nothing the caller may see (the two are not told apart). */
export class NotFound extends AppError {
  constructor(code: NotFoundCode, message: string, details?: Record<string, unknown>) {
    super(code, message, { details });
  }
}

export class FileNotFound extends NotFound {
  constructor(message = 'File not found') {
    super('file_not_found', message);
  }
}

/** A BlobStore has no bytes under the key (disk ENOENT, S3 NoSuchKey): to a client, no file. */
export class BlobNotFound extends NotFound {
  constructor(readonly key: string) {
    super('file_not_found', 'File not found');
  }
}

export class UploadNotFound extends NotFound {
  constructor() {
    super('upload_not_found', 'Upload not found');
  }
}

export class UserNotFound extends NotFound {
  constructor() {
    super('user_not_found', 'User not found');
  }
}

/** Resolves a lookup to null when the thing is not found; every other failure still throws. */
export async function nullIfNotFound<T>(lookup: Promise<T>): Promise<T | null> {
  try {
    return await lookup;
  } catch (err) {
    if (err instanceof NotFound) return null;
    throw err;
  }
}

type WrongStateCode = Extract<ErrorCode, 'upload_completed' | 'complete_in_progress' | 'username_taken' | 'name_clash'>;

/** The thing exists, but its state forbids the operation (a race lost, a name taken). */
export class WrongState extends AppError {
  constructor(code: WrongStateCode, message: string) {
    super(code, message);
  }
}

export class UploadNotOpen extends AppError {
  constructor() {
    super('upload_not_open', 'Upload is no longer open for parts');
  }
}

export class PreconditionFailed extends AppError {
  constructor() {
    super('precondition_failed', 'A precondition (If-Match / If-Unmodified-Since) failed');
  }
}

export class RangeNotSatisfiable extends AppError {
  constructor(objectSize: number) {
    super('range_not_satisfiable', 'Requested range not satisfiable', { objectSize });
  }
}

type TooLargeCode = Extract<ErrorCode, 'payload_too_large' | 'file_too_large' | 'part_too_large' | 'too_many_files' | 'batch_too_large'>;

/** A body, file or request holds more than a fixed limit allows; nothing was kept. */
export class TooLarge extends AppError {
  constructor(code: TooLargeCode, message: string) {
    super(code, message);
  }
}

/** The user's byte quota or file count would be passed. */
export class QuotaExceeded extends AppError {
  constructor(message: string, code: Extract<ErrorCode, 'quota_exceeded' | 'file_count_exceeded'> = 'quota_exceeded') {
    super(code, message);
  }
}

/**
 * A per-user cap on things held open (uploads, batch tokens): no retry time, since what frees
 * a slot is the user finishing, aborting or waiting out what they hold.
 */
export class LimitReached extends AppError {
  constructor(code: Extract<ErrorCode, 'too_many_uploads' | 'too_many_batches'>, message: string) {
    super(code, message);
  }
}

/** Too many attempts (login throttling): retry after the given time. */
export class RateLimited extends AppError {
  constructor(retryAfterSeconds: number) {
    super('too_many_requests', 'Too many attempts, try again later', { retryAfterSeconds });
  }
}

/** The storage has no room (disk ENOSPC/EDQUOT, a bucket's quota); nothing was half-written. */
export class StorageFull extends AppError {
  constructor(message = 'Not enough space on the storage volume', cause?: unknown) {
    super('insufficient_storage', message, { cause });
  }
}

/**
 * A stored name that no ZIP entry can carry unchanged. Records' names are validated, so this is
 * a record from before a rule, or a bug: the archive is cut short (its headers are already
 * out). The name is a property, so it is logged and never sent to a client.
 */
export class UnsafeEntryName extends AppError {
  constructor(
    readonly entryName: string,
    why: 'unsafe' | 'rewritten',
  ) {
    super('internal_error', why === 'unsafe' ? 'A stored name is not a safe ZIP entry name' : 'A stored name would be rewritten inside a ZIP');
  }
}

/**
 * The metadata database cannot be reached (connection refused or lost, server shutting
 * down): a 503 with Retry-After, never a crash or a hang. The pool reconnects by itself.
 */
export class DatabaseUnavailable extends AppError {
  constructor(cause?: unknown) {
    super('database_unavailable', 'The database is unavailable; retry shortly', { retryAfterSeconds: 1, cause });
  }
}

/**
 * The object store (S3) cannot be reached, timed out, or answered that it is overloaded or
 * failing (5xx, SlowDown): a 503 with Retry-After, never a crash or a hang. What was being
 * written is not kept.
 */
export class StorageUnavailable extends AppError {
  constructor(cause?: unknown) {
    super('storage_unavailable', 'The object storage is unavailable; retry shortly', { retryAfterSeconds: 1, cause });
  }
}

/**
 * The object store refused a request in a way a retry will not fix (access denied, no such
 * bucket, a malformed answer): a 502, logged with its cause; the message names no S3 detail.
 */
export class StorageError extends AppError {
  constructor(cause?: unknown) {
    super('storage_error', 'The object storage refused the request', { cause });
  }
}

/**
 * tus 1.0 (src/tus/): what the protocol answers with statuses of its own. A PATCH whose
 * Upload-Offset is not the upload's offset, or that races another PATCH of the same upload,
 * is 409; a Tus-Resumable the server does not speak is 412; an Upload-Checksum that does not
 * match the PATCH's bytes is 460 (the bytes are not kept); a PATCH body that is not
 * application/offset+octet-stream is 415.
 */
export class TusProtocolError extends AppError {
  constructor(code: Extract<ErrorCode, 'offset_mismatch' | 'tus_version_unsupported' | 'upload_checksum_mismatch' | 'invalid_content_type'>, message: string) {
    super(code, message);
  }
}
