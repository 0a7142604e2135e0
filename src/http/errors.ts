/**
 * Errors as types: each carries an HTTP status and a stable snake_case `code`.
 * They are turned into the JSON error shape of docs/api.md in exactly one place (error-handler.ts).
 */
export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** Extra response headers (WWW-Authenticate, Content-Range, Retry-After …). */
  readonly headers: Record<string, string>;
  /** Extra JSON members merged into the error body (e.g. the list of missing keys). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    statusCode: number,
    code: string,
    message: string,
    opts: { headers?: Record<string, string>; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.code = code;
    this.headers = opts.headers ?? {};
    this.details = opts.details;
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, code = 'bad_request', details?: Record<string, unknown>) {
    super(400, code, message, { details });
  }
}

/**
 * 401: never says why a token failed (RFC 6750). The challenge carries `error="invalid_token"`
 * only when a token was sent and refused (code invalid_token); with no credentials at all it is
 * a bare `Bearer` (RFC 6750 §3.1).
 */
export class UnauthorizedError extends AppError {
  constructor(message = 'Authentication required', code = 'unauthorized') {
    super(401, code, message, { headers: { 'WWW-Authenticate': code === 'invalid_token' ? 'Bearer error="invalid_token"' : 'Bearer' } });
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Not allowed', code = 'forbidden') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found', code = 'not_found', details?: Record<string, unknown>) {
    super(404, code, message, { details });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string, code = 'payload_too_large') {
    super(413, code, message);
  }
}

export class RangeNotSatisfiableError extends AppError {
  constructor(size: number) {
    super(416, 'range_not_satisfiable', 'Requested range not satisfiable', {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
}

export class TooManyRequestsError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'too_many_requests', 'Too many attempts, try again later', {
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

/**
 * 429 for a per-user cap on things held open (uploads, batch tokens): no Retry-After, since
 * what frees a slot is the user finishing, aborting or waiting out what they hold.
 */
export class LimitReachedError extends AppError {
  constructor(message: string, code: string) {
    super(429, code, message);
  }
}

export class InsufficientStorageError extends AppError {
  constructor(message = 'Not enough space on the storage volume') {
    super(507, 'insufficient_storage', message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, code = 'service_unavailable') {
    super(503, code, message);
  }
}
