/**
 * The one place where errors become the JSON error shape of docs/api.md:
 * {"statusCode", "error", "code", "message"} (+ details). Bad input never yields a 500.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';

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

/** Node errno codes that mean "the disk is full" rather than a bug. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

function toReply(error: FastifyError | AppError | Error): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (error instanceof AppError) {
    return { status: error.statusCode, body: errorBody(error.statusCode, error.code, error.message, error.details), headers: error.headers };
  }
  const fe = error as FastifyError & { code?: string };
  if (fe.validation) {
    return { status: 400, body: errorBody(400, 'validation_error', describeValidation(fe)), headers: {} };
  }
  if (fe.code && NO_SPACE.has(fe.code)) {
    return { status: 507, body: errorBody(507, 'insufficient_storage', 'Not enough space on the storage volume'), headers: {} };
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
