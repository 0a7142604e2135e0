/**
 * F-17 logging: a client aborting an upload is a note (info), not an error with a stack (the
 * review counted 21 error lines with "message":"aborted"); secrets put in unexpected query
 * parameters (`?X-Service-Token=…`, `?api_key=…`) are redacted like `sig` and `token`.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { redactUrl } from '../../src/http/logging.js';
import { tempDir, testEnv } from '../helpers/app.js';
import { waitFor } from '../serve/serve-helpers.js';

let app: FastifyInstance;
let root: string;
let env: Record<string, string>;
let port: number;
const lines: string[] = [];
/** Writes the store has begun: a handler reading an upload's body streams it into the store. */
let storeWrites = 0;

beforeAll(async () => {
  root = await tempDir();
  env = testEnv(root, { LOG_LEVEL: 'info' });
  app = await buildApp(loadConfig(env), { logStream: { write: (line: string) => void lines.push(line) } });
  const { blobs } = app.ctx;
  const [writeObject, writePart] = [blobs.writeObject, blobs.writePart];
  blobs.writeObject = (...args) => (storeWrites++, writeObject.apply(blobs, args));
  blobs.writePart = (...args) => (storeWrites++, writePart.apply(blobs, args));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await app.close();
  await fs.rm(root, { recursive: true, force: true });
});

/** Sends `head` and `partial` body bytes, then resets the connection once the handler is reading the body. */
async function abortMidBody(head: string, partial: Buffer): Promise<void> {
  const writesBefore = storeWrites;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(head);
  socket.write(partial);
  expect(await waitFor(() => storeWrites > writesBefore, 5000)).toBe(true);
  socket.resetAndDestroy();
}

const parsed = (): { level: number; msg?: string; err?: unknown; [k: string]: unknown }[] => lines.map((l) => JSON.parse(l));
const errorsLogged = () => parsed().filter((l) => l.level >= 50 || l.err !== undefined || JSON.stringify(l).includes('"stack"'));

describe('F-17 a client aborting an upload', () => {
  it('a one-request multipart upload cut mid-file: info, no error, no stack', async () => {
    const boundary = 'xyzzy';
    const start = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const head =
      `POST /v1/files?user_id=abort HTTP/1.1\r\nHost: x\r\nX-Service-Token: ${env.AUTH_SERVICE_TOKEN}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${10_000_000}\r\n\r\n`;
    const before = lines.length;
    await abortMidBody(head, Buffer.concat([Buffer.from(start), Buffer.alloc(200_000, 1)]));
    expect(await waitFor(() => lines.slice(before).some((l) => l.includes('client closed the connection')), 5000)).toBe(true);
    expect(errorsLogged()).toEqual([]);
  });

  it('a raw part PUT cut mid-body: info, no error, no stack', async () => {
    const init = await app.inject({
      method: 'POST',
      url: '/v1/files/init',
      headers: { 'x-service-token': env.AUTH_SERVICE_TOKEN! },
      payload: { mode: 'single', files: [{ name: 'p.bin', size: 10_000_000 }], user_id: 'abort' },
    });
    expect(init.statusCode, init.body).toBe(201);
    const head =
      `PUT /v1/files/part?uploadId=${init.json().uploadId}&partNumber=1 HTTP/1.1\r\nHost: x\r\nX-Service-Token: ${env.AUTH_SERVICE_TOKEN}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n`;
    const before = lines.length;
    await abortMidBody(head, Buffer.alloc(300_000, 2));
    expect(await waitFor(() => lines.slice(before).some((l) => l.includes('client closed the connection')), 5000)).toBe(true);
    expect(errorsLogged()).toEqual([]);
  });
});

describe('F-17 redactUrl hides any secret-looking query parameter', () => {
  it('whatever the case or spelling of the name', () => {
    const cases: [string, string][] = [
      ['/v1/files/all?X-Service-Token=svc-secret', '/v1/files/all?X-Service-Token=[redacted]'],
      ['/x?api_key=k1&user_id=u1', '/x?api_key=[redacted]&user_id=u1'],
      ['/x?APIKEY=k1', '/x?APIKEY=[redacted]'],
      ['/x?client_secret=s&a=1', '/x?client_secret=[redacted]&a=1'],
      ['/x?Password=p&passwd=q', '/x?Password=[redacted]&passwd=[redacted]'],
      ['/get/abc?exp=1&sig=f00&signature=b4r', '/get/abc?exp=1&sig=[redacted]&signature=[redacted]'],
      ['/x?refresh_token=r&access_token=a&id_token=i', '/x?refresh_token=[redacted]&access_token=[redacted]&id_token=[redacted]'],
      ['/x?%73ig=encoded-name', '/x?%73ig=[redacted]'],
      ['/x?Authorization=Bearer%20abc', '/x?Authorization=[redacted]'],
      ['/v1/files/batch-download/tok123?x=1', '/v1/files/batch-download/[redacted]?x=1'],
      ['/v1/files/all?user_id=u1&folder=docs&limit=5', '/v1/files/all?user_id=u1&folder=docs&limit=5'],
      ['/healthz', '/healthz'],
    ];
    for (const [url, expected] of cases) expect(redactUrl(url), url).toBe(expected);
  });

  it('the request log line of a request with ?X-Service-Token= carries no secret', async () => {
    const secret = 'svc-in-the-query-0123456789';
    const before = lines.length;
    await app.inject({ method: 'GET', url: `/v1/files/all?user_id=u1&X-Service-Token=${secret}` });
    const logged = lines.slice(before).join('');
    expect(logged).toContain('X-Service-Token=[redacted]');
    expect(logged).not.toContain(secret);
  });
});
