/**
 * S3's failures, turned into domain errors here and nowhere else: callers see BlobNotFound,
 * StorageUnavailable (503: unreachable, timed out, overloaded) or StorageError (502: refused
 * in a way a retry will not fix), never an SDK exception, an S3 error code or a stack.
 * The store checks the few answers it expects (NoSuchKey, NoSuchUpload, InvalidPart…) with
 * `s3ErrorName` before anything reaches `toDomainError`.
 */
import { AppError, StorageError, StorageUnavailable } from '../../errors/index.js';

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The S3 error code (`NoSuchKey`, `InvalidPart`…) or the SDK's name for a failure without one. */
export function s3ErrorName(err: unknown): string {
  const e = err as SdkError | undefined;
  return e?.Code ?? e?.name ?? '';
}

export function s3Status(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** Nothing under that name (GetObject's NoSuchKey, HeadObject's bare 404). */
export function isMissingObject(err: unknown): boolean {
  const name = s3ErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload');
}

/** Node's socket errors and the SDK's timeouts: the server could not be reached or stopped answering. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ESOCKETTIMEDOUT']);
/** Answers that say "not now": a retry later may succeed. */
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeTooSkewed', 'SlowDown', 'ServiceUnavailable', 'InternalError', 'Throttling', 'ThrottlingException']);

export function isTransient(err: unknown): boolean {
  const e = err as SdkError | undefined;
  if (e?.code && NETWORK_CODES.has(e.code)) return true;
  if (TRANSIENT_NAMES.has(s3ErrorName(err))) return true;
  const status = s3Status(err);
  return status !== undefined && (status >= 500 || status === 429);
}

/** Any failure of an S3 call as a domain error; domain errors (ours) pass unchanged. */
export function toDomainError(err: unknown): Error {
  if (err instanceof AppError) return err;
  return isTransient(err) ? new StorageUnavailable(err) : new StorageError(err);
}

/** Runs one S3 call; any failure leaves as a domain error. */
export async function s3Call<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw toDomainError(err);
  }
}
