/**
 * The one place where errors become the JSON error shape of docs/api.md:
 * {"statusCode", "error", "code", "message"} (+ details). Bad input never yields a 500.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../errors/index.js';

export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  [extra: string]: unknown;
}

export function errorBody(statusCode: number, code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message, ...details };
}

interface ValidationIssueLike {
  instancePath?: string;
  message?: string;
  params?: { issue?: { path?: PropertyKey[] }; missingProperty?: string };
}

/** "body.files.0.name: Too small" — names the field, as clients need to fix their input. */
function describeValidation(error: FastifyError): string {
  const first = (error.validation?.[0] ?? {}) as ValidationIssueLike;
  const where = error.validationContext ?? 'request';
  const pathParts = first.instancePath
    ? first.instancePath.split('/').filter(Boolean)
    : (first.params?.issue?.path ?? []).map(String);
  const field = [where, ...pathParts].join('.');
  return `${field}: ${first.message ?? error.message}`;
}

/**
 * The HTTP status of every code (docs/api.md, "Error codes"): the only place a domain error
 * meets HTTP. A `Record` over the closed union, so a new code without a status does not compile.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  validation_error: 400,
  user_id_required: 400,
  invalid_key: 400,
  invalid_cursor: 400,
  invalid_upload_id: 400,
  invalid_checksum: 400,
  checksum_mismatch: 400,
  part_size_mismatch: 400,
  invalid_part_number: 400,
  upload_incomplete: 400,
  multipart_required: 400,
  expires_in_too_large: 400,
  expires_hours_too_large: 400,
  expires_hours_too_small: 400,
  role_above_user: 400,
  invalid_scope: 400,
  empty_batch: 400,
  invalid_name: 400,
  invalid_move: 400,
  invalid_url: 400,
  invalid_header: 400,
  invalid_framing: 400,
  malformed_request: 400,
  checksum_algorithm_unsupported: 400,
  invalid_content_type: 415,
  unauthorized: 401,
  invalid_token: 401,
  invalid_credentials: 401,
  insufficient_scope: 403,
  forbidden_user: 403,
  csrf_rejected: 403,
  not_a_user: 403,
  user_disabled: 403,
  invalid_signature: 403,
  url_expired: 403,
  upload_url_used: 403,
  upload_url_cannot_read: 403,
  not_found: 404,
  file_not_found: 404,
  files_not_found: 404,
  upload_not_found: 404,
  user_not_found: 404,
  batch_not_found: 404,
  request_timeout: 408,
  body_too_slow: 408,
  upload_not_open: 409,
  upload_completed: 409,
  complete_in_progress: 409,
  username_taken: 409,
  name_clash: 409,
  precondition_failed: 412,
  offset_mismatch: 409,
  tus_version_unsupported: 412,
  upload_checksum_mismatch: 460,
  payload_too_large: 413,
  file_too_large: 413,
  part_too_large: 413,
  too_many_files: 413,
  batch_too_large: 413,
  chunk_extensions_too_large: 413,
  quota_exceeded: 413,
  file_count_exceeded: 413,
  range_not_satisfiable: 416,
  too_many_uploads: 429,
  too_many_batches: 429,
  too_many_connections: 429,
  too_many_requests: 429,
  headers_too_large: 431,
  internal_error: 500,
  login_busy: 503,
  insufficient_storage: 507,
  database_unavailable: 503,
  storage_unavailable: 503,
  storage_error: 502,
};

/** Headers an error's data calls for: the 401 challenge, Retry-After, the 416 Content-Range. */
function headersOf(error: AppError, status: number): Record<string, string> {
  const headers: Record<string, string> = {};
  // RFC 6750 §3.1: `error="invalid_token"` only when a token was sent and refused; a bare
  // `Bearer` when none was (and never a word on why a token failed).
  if (status === 401) headers['WWW-Authenticate'] = error.code === 'invalid_token' ? 'Bearer error="invalid_token"' : 'Bearer';
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  if (error.objectSize !== undefined) headers['Content-Range'] = `bytes */${error.objectSize}`;
  return headers;
}

function toReply(error: FastifyError | AppError | Error): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (error instanceof AppError) {
    const status = HTTP_STATUS[error.code];
    return { status, body: errorBody(status, error.code, error.message, error.details), headers: headersOf(error, status) };
  }
  const fe = error as FastifyError & { code?: string };
  if (fe.validation) {
    return { status: 400, body: errorBody(400, 'validation_error', describeValidation(fe)), headers: {} };
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad JSON, unsupported media type, body too large…).
    const code = (fe.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase();
    return { status, body: errorBody(status, code, fe.message), headers: {} };
  }
  return { status: 500, body: errorBody(500, 'internal_error', 'Internal server error'), headers: {} };
}

/**
 * The connection is gone mid-request: whatever error the body's reader raised ("aborted",
 * "Unexpected end of form", a premature close) comes from that, unless it is one of our own
 * refusals (an AppError such as a 413, whose pipeline tore the request down).
 */
function clientWentAway(request: FastifyRequest): boolean {
  return request.raw.aborted || request.raw.socket?.destroyed === true;
}

/** For Fastify's `frameworkErrors` option: errors raised before a route is found. */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, headers } = toReply(error);
  void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
}

export function registerErrorHandling(app: FastifyInstance): void {
  // JSON routes take JSON: without Fastify's default text/plain parser, a text/plain body is a
  // 415 like any other wrong content type (not a string that fails validation as a 400), and
  // a cross-site "simple" text/plain POST never reaches a handler. Byte-upload routes register
  // their own parsers in their own scope.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (!(error instanceof AppError) && clientWentAway(request)) {
      // Not our failure and nobody to answer: a note, not an error with a stack.
      request.log.info({ code: (error as { code?: string }).code ?? error.message }, 'client closed the connection before the request finished');
      reply.raw.destroy();
      return;
    }
    const { status, body, headers } = toReply(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: body.code }, body.message);
    if (reply.sent || reply.raw.headersSent) {
      // Too late for a JSON answer (we were streaming): cut the connection so the client sees a failure.
      reply.raw.destroy();
      return;
    }
    void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(404, 'not_found', `Route ${request.method} ${request.url.split('?')[0]} not found`));
  });
}
