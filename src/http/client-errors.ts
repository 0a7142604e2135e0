/**
 * Errors Node's HTTP parser raises before a request exists (Fastify's `clientErrorHandler`):
 * bad characters in the URL, Content-Length together with Transfer-Encoding, headers too large,
 * headers too slow. Every error, these included, is JSON with a `code` (docs/api.md, Conventions).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../errors/index.js';
import { HTTP_STATUS } from './error-handler.js';
import { answerAndClose, rawErrorResponse } from './raw-response.js';

interface ClientErrorAnswer {
  code: ErrorCode;
  message: string;
}

/** llhttp / Node error codes → our answer; anything else is a plain malformed request. */
const ANSWERS: Record<string, ClientErrorAnswer> = {
  HPE_HEADER_OVERFLOW: { code: 'headers_too_large', message: 'Request headers too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request_timeout', message: 'The request headers took too long to arrive' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { code: 'chunk_extensions_too_large', message: 'Chunk extensions too large' },
  HPE_INVALID_URL: { code: 'invalid_url', message: 'The request target contains characters that are not allowed' },
  HPE_UNEXPECTED_CONTENT_LENGTH: {
    code: 'invalid_framing',
    message: 'Content-Length and Transfer-Encoding must not be sent together',
  },
  HPE_INVALID_TRANSFER_ENCODING: { code: 'invalid_framing', message: 'Invalid Transfer-Encoding' },
  HPE_INVALID_CONTENT_LENGTH: { code: 'invalid_framing', message: 'Invalid Content-Length' },
  HPE_INVALID_HEADER_TOKEN: { code: 'invalid_header', message: 'A header name or value contains characters that are not allowed' },
};

const MALFORMED: ClientErrorAnswer = { code: 'malformed_request', message: 'Malformed HTTP request' };

export function clientErrorAnswer(code: string | undefined): ClientErrorAnswer {
  return (code && ANSWERS[code]) || MALFORMED;
}

/** The parser reports every further byte of a broken request again: one answer is enough. */
const answered = new WeakSet<Socket>();

export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
  answered.add(socket);
  const answer = clientErrorAnswer(err.code);
  this.log.debug({ code: err.code, status: HTTP_STATUS[answer.code] }, `client error: ${answer.message}`);
  // As Node itself does: never write a second status line into a response already under way
  // (a timeout while an earlier keep-alive response is still being sent).
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  answerAndClose(socket, rawErrorResponse(answer.code, answer.message));
}
