/**
 * F-17: a minimum body rate. A body slower than BODY_MIN_BYTES_PER_SECOND over the window is
 * cut (408 JSON when no answer has started, and the connection closes); a steady body passes.
 * Only time we were reading counts: a body we had not started reading, or had paused because
 * our side was slower, is not the client's fault (body-rate-monitor.test.ts, with a clock).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { listen } from '../serve/serve-helpers.js';

let s: TestServer;
let port: number;

beforeAll(async () => {
  s = await startTestServer({ BODY_MIN_BYTES_PER_SECOND: '2000', BODY_MIN_RATE_WINDOW_SECONDS: '1' });
  ({ port } = await listen(s));
});
afterAll(async () => s.close());

async function openUpload(size: number): Promise<string> {
  const res = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'r.bin', size }], user_id: 'rate' } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().uploadId as string;
}

/** A raw part PUT whose body goes out `chunk` bytes every `everyMs`; gives up after `maxMs`. */
function pacedPut(uploadId: string, size: number, chunk: number, everyMs: number, maxMs: number): Promise<{ status: number; body: string; closed: boolean; sent: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let closed = false;
    const finish = (): void => {
      clearInterval(pump);
      clearTimeout(giveUp);
      const split = answer.indexOf('\r\n\r\n');
      resolve({ status: Number(answer.split(' ')[1]) || 0, body: answer.slice(split + 4), closed, sent });
    };
    const pump = setInterval(() => {
      // The client stops once it has ended its side (after reading the answer) or the socket is gone.
      if (sent >= size || socket.destroyed || socket.writableEnded) return;
      const n = Math.min(chunk, size - sent);
      socket.write(Buffer.alloc(n, 0x61));
      sent += n;
    }, everyMs);
    const giveUp = setTimeout(() => {
      socket.destroy();
      finish();
    }, maxMs);
    socket.on('data', (c: Buffer) => {
      answer += c.toString('latin1');
      if (/\r\n\r\n\{.*\}$/s.test(answer)) socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(
      `PUT /v1/files/part?uploadId=${uploadId}&partNumber=1 HTTP/1.1\r\nHost: x\r\nX-Service-Token: ${s.serviceToken}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
    );
  });
}

describe('F-17 minimum body rate', () => {
  it('a trickle (100 bytes/s against a 2000 bytes/s minimum) is cut with 408 body_too_slow', async () => {
    const uploadId = await openUpload(100_000);
    const res = await pacedPut(uploadId, 100_000, 10, 100, 8_000);
    expect(res.status, res.body).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ statusCode: 408, code: 'body_too_slow' });
    expect(res.closed).toBe(true);
    expect(res.sent).toBeLessThan(2_000); // cut within a few windows, not at the idle timeout
    const status = await s.asService({ method: 'GET', url: `/v1/files/upload/${uploadId}` });
    expect(status.json().parts).toEqual([]);
  });

  it('a steady body (20 KB/s) passes', async () => {
    const uploadId = await openUpload(50_000);
    const res = await pacedPut(uploadId, 50_000, 5_000, 250, 20_000);
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ uploadId, partNumber: 1, size: 50_000 });
  });
});
