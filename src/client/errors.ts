/**
 * Errors the SDK throws. Every failure the server answers becomes a `StreamLineError` carrying
 * the server's JSON error shape (`status`, `code`, `message`, and any extra members such as
 * `missing_parts` in `details`); a request that never got an answer (connection refused or
 * cut, DNS failure) is a `StreamLineNetworkError` (status 0, code `network_error`), so callers
 * can tell "the server said no" from "the server was not reached". An aborted call rejects
 * with the `AbortSignal`'s reason (a DOMException named `AbortError` by default), never
 * with one of these.
 */
import type { ErrorCode } from '../errors/codes.js';

/** Codes the SDK raises itself, beside the server's. */
export type ClientErrorCode = 'network_error' | 'http_error' | 'download_checksum_mismatch' | 'download_size_mismatch' | 'upload_size_mismatch';

export interface StreamLineErrorInit {
  status: number;
  code: ErrorCode | ClientErrorCode | (string & {});
  message: string;
  details?: Record<string, unknown>;
  /** Seconds from the answer's Retry-After header, when it had one. */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class StreamLineError extends Error {
  override readonly name: string = 'StreamLineError';
  /** HTTP status of the server's answer; 0 when there was none. */
  readonly status: number;
  /** The server's error code (docs/api.md, "Error codes"), or one of ClientErrorCode. */
  readonly code: ErrorCode | ClientErrorCode | (string & {});
  /** Members of the error body beyond statusCode, error, code and message. */
  readonly details: Record<string, unknown>;
  readonly retryAfterSeconds: number | undefined;

  constructor(init: StreamLineErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? {};
    this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

/** No answer from the server: the request may or may not have reached it. */
export class StreamLineNetworkError extends StreamLineError {
  override readonly name: string = 'StreamLineNetworkError';
  constructor(message: string, cause?: unknown) {
    super({ status: 0, code: 'network_error', message, cause });
  }
}

export const isStreamLineError = (err: unknown): err is StreamLineError => err instanceof StreamLineError;

/** Seconds of a Retry-After header (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/** The error a non-2xx answer stands for, from its JSON error body when it has one. */
export async function errorFromResponse(res: Response): Promise<StreamLineError> {
  const retryAfterSeconds = parseRetryAfter(res.headers.get('retry-after'));
  let body: unknown;
  try {
    const text = await res.text();
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body !== null && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string') {
    const { statusCode: _s, error: _e, code, message, ...details } = body as Record<string, unknown>;
    return new StreamLineError({ status: res.status, code: code as string, message: typeof message === 'string' ? message : `HTTP ${res.status}`, details, retryAfterSeconds });
  }
  return new StreamLineError({ status: res.status, code: 'http_error', message: `HTTP ${res.status} ${res.statusText}`.trim(), retryAfterSeconds });
}
