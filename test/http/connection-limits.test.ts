/**
 * F-04: caps on open connections. Over MAX_CONNECTIONS_PER_ADDRESS (per client address) or
 * MAX_CONNECTIONS (server-wide) a connection gets a raw `429 too_many_connections` in the JSON
 * error shape and is closed; connections from trusted proxies (TRUST_PROXY) are not capped per
 * address (nginx caps per client there). Real sockets, from several loopback addresses.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { listen, waitFor } from '../serve/serve-helpers.js';

const servers: TestServer[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});

async function start(env: Record<string, string>): Promise<number> {
  const s = await startTestServer(env);
  servers.push(s);
  return (await listen(s)).port;
}

interface Answer {
  status: number;
  head: string;
  body: string;
}

/** A keep-alive connection from `from` that has had one GET /healthz answered (so it is admitted and open). */
function openFrom(port: number, from: string): Promise<{ socket: net.Socket; first: Answer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    sockets.push(socket);
    let text = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      if (split !== -1 && length !== undefined && text.length - split - 4 >= Number(length)) {
        resolve({ socket, first: { status: Number(text.split(' ')[1]), head: text.slice(0, split), body: text.slice(split + 4) }, closed });
      }
    });
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

function expect429(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(answer.head).toMatch(/\r\ncontent-type: application\/json/i);
  expect(answer.head).toMatch(/\r\nconnection: close/i);
  expect(answer.head).toMatch(/\r\nretry-after: \d+/i);
  expect(JSON.parse(answer.body)).toEqual({ statusCode: 429, error: 'Too Many Requests', code: 'too_many_connections', message: expect.any(String) });
}

describe('F-04 connection caps', () => {
  it('per client address: the connection over the cap gets a raw 429 JSON and is closed', async () => {
    const port = await start({ MAX_CONNECTIONS_PER_ADDRESS: '3' });
    const held = [];
    for (let i = 0; i < 3; i++) {
      const c = await openFrom(port, '127.0.0.1');
      expect(c.first.status).toBe(200);
      held.push(c);
    }
    const over = await openFrom(port, '127.0.0.1');
    expect429(over.first);
    await over.closed; // the server closed it

    // Another address is not affected…
    expect((await openFrom(port, '127.0.0.2')).first.status).toBe(200);
    // …and a slot frees up when one of the three closes.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    expect(await waitFor(async () => (await openFrom(port, '127.0.0.1')).first.status === 200, 5000)).toBe(true);
  });

  it('trusted proxies are not capped per address; other addresses still are', async () => {
    const port = await start({ MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: '127.0.0.1' });
    for (let i = 0; i < 5; i++) expect((await openFrom(port, '127.0.0.1')).first.status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await openFrom(port, '127.0.0.3')).first.status).toBe(200);
    expect429((await openFrom(port, '127.0.0.3')).first);
  });

  it('server-wide: over MAX_CONNECTIONS, 429 from any address', async () => {
    const port = await start({ MAX_CONNECTIONS: '4', MAX_CONNECTIONS_PER_ADDRESS: '0' });
    const from = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
    for (const address of from) expect((await openFrom(port, address)).first.status).toBe(200);
    expect429((await openFrom(port, '127.0.0.5')).first);
  });
});
