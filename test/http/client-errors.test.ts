/**
 * F-17: errors Node's HTTP parser raises before there is a request (Fastify's
 * clientErrorHandler) answer in the JSON error shape with a `code`, then close. Before, they
 * carried Fastify's default body without a code (`{"error":"Bad Request","message":"Client
 * Error","statusCode":400}`). Over a raw socket, bytes exactly as written.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { listen } from '../serve/serve-helpers.js';

let s: TestServer;
let port: number;

beforeAll(async () => {
  s = await startTestServer();
  ({ port } = await listen(s));
});
afterAll(async () => s.close());

interface Raw {
  status: number;
  head: string;
  body: string;
  closed: boolean;
}

/** Writes `request` (as latin1 bytes), reads until the server closes (or `waitMs` passes). */
function exchange(request: string | Buffer, waitMs = 10_000): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const done = (): void => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      resolve({ status: Number(all.split(' ')[1]), head: all.slice(0, split), body: all.slice(split + 4), closed });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      done();
    }, waitMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.write(request);
  });
}

function expectJsonError(res: Raw, status: number, code: string): void {
  expect(res.status, res.head).toBe(status);
  expect(res.head).toMatch(/\r\ncontent-type: application\/json/i);
  expect(res.head).toMatch(/\r\nconnection: close/i);
  const body = JSON.parse(res.body);
  expect(body).toEqual({ statusCode: status, error: expect.any(String), code, message: expect.any(String) });
  expect(res.closed).toBe(true);
}

describe('F-17 parser errors in the JSON error shape', () => {
  it('invalid characters in the request target: 400 invalid_url', async () => {
    const res = await exchange(Buffer.from('GET /files/\x01evil HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
    expectJsonError(res, 400, 'invalid_url');
  });

  it('Content-Length together with Transfer-Encoding: 400 invalid_framing', async () => {
    const res = await exchange('POST /v1/files/part HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expectJsonError(res, 400, 'invalid_framing');
  });

  it('a malformed header line: 400 with a code', async () => {
    const res = await exchange('GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 400, code: expect.stringMatching(/^[a-z_]+$/) });
  });

  it('headers over the limit: 431 headers_too_large', async () => {
    const res = await exchange(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    expectJsonError(res, 431, 'headers_too_large');
  });

  it('headers that never finish: 408 request_timeout', async () => {
    const server = s.app.server;
    const before = server.headersTimeout;
    server.headersTimeout = 300; // checked every 2 s (connectionsCheckingInterval)
    try {
      const started = Date.now();
      const res = await exchange('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 15_000);
      expectJsonError(res, 408, 'request_timeout');
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      server.headersTimeout = before;
    }
  });

  it('a well-formed request on the same server is unaffected', async () => {
    const res = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(200);
  });
});
