/**
 * F-17: `Expect: 100-continue` is answered `100 Continue` only once the request is authorised.
 * Before, Node sent the 100 before any of our code ran, so an unauthenticated client was
 * invited to send its body and only then got the 401. Over a raw socket.
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

/** Sends the head, waits for the first answer, sends the body only after a 100, returns all answers. */
function expectContinue(head: string, body: Buffer): Promise<{ first: string; all: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let all = '';
    let first = '';
    let sentBody = false;
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk: Buffer) => {
      all += chunk.toString('latin1');
      if (!first) first = all.split('\r\n')[0]!;
      if (!sentBody && all.startsWith('HTTP/1.1 100')) {
        sentBody = true;
        socket.write(body);
      }
      // A final answer with a complete JSON body: done.
      if (/\r\n\r\n\{.*\}$/s.test(all.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ first, all });
    });
    socket.write(head);
  });
}

async function openUpload(size: number): Promise<string> {
  const res = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'c.bin', size }], user_id: 'cont' } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().uploadId as string;
}

const partHead = (uploadId: string, length: number, auth: string): string =>
  `PUT /v1/files/part?uploadId=${uploadId}&partNumber=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
  `Content-Length: ${length}\r\nExpect: 100-continue\r\n${auth}\r\n`;

describe('F-17 100-continue only after authorisation', () => {
  it('no credentials: 401 first, never a 100', async () => {
    const uploadId = await openUpload(5);
    const res = await expectContinue(partHead(uploadId, 5, ''), Buffer.from('hello'));
    expect(res.first).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.all).not.toContain('100 Continue');
  });

  it('a wrong service token: 401 first, never a 100', async () => {
    const uploadId = await openUpload(5);
    const res = await expectContinue(partHead(uploadId, 5, 'X-Service-Token: wrong-token-0123456789\r\n'), Buffer.from('hello'));
    expect(res.first).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.all).not.toContain('100 Continue');
  });

  it('authorised: 100 Continue, then the body, then 200', async () => {
    const uploadId = await openUpload(5);
    const res = await expectContinue(partHead(uploadId, 5, `X-Service-Token: ${s.serviceToken}\r\n`), Buffer.from('hello'));
    expect(res.first).toBe('HTTP/1.1 100 Continue');
    expect(res.all).toMatch(/\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(res.all).toContain(`"uploadId":"${uploadId}"`);
  });

  it('a JSON route: 100 after the guard, and the body is parsed as usual', async () => {
    const body = Buffer.from(JSON.stringify({ mode: 'single', files: [{ name: 'j.bin', size: 1 }], user_id: 'cont' }));
    const head =
      `POST /v1/files/init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Expect: 100-continue\r\nX-Service-Token: ${s.serviceToken}\r\n\r\n`;
    const res = await expectContinue(head, body);
    expect(res.first).toBe('HTTP/1.1 100 Continue');
    expect(res.all).toMatch(/HTTP\/1\.1 201 Created/);
  });
});
