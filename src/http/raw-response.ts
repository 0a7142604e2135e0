/**
 * Answers written straight onto a socket, for the moments before (or instead of) Node's HTTP
 * parser and Fastify: a refused connection, a request the parser rejected. Same JSON error
 * shape as every other error, always followed by closing the connection.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../errors/index.js';
import { errorBody, HTTP_STATUS } from './error-handler.js';

/** How long a refused socket may keep sending before we drop it. */
const LINGER_MS = 2000;

export function rawErrorResponse(code: ErrorCode, message: string, headers: Record<string, string> = {}): string {
  const statusCode = HTTP_STATUS[code];
  const body = JSON.stringify(errorBody(statusCode, code, message));
  const lines = [
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Writes `response` and closes our side, then reads and discards whatever the client still
 * sends for a moment: closing a socket with unread input sends a reset, which can make the
 * client lose the answer before reading it.
 */
export function answerAndClose(socket: Socket, response: string): void {
  socket.on('error', () => undefined); // a client resetting a refused connection is no event
  if (socket.destroyed) return;
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  socket.end(response, 'latin1');
  socket.resume();
}
