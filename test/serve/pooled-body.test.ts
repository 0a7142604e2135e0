/**
 * Downloads written from recycled buffers on a hijacked reply (serve/pooled-body.ts), over
 * real sockets on the disk store: the answer carries the headers, metrics and log lines a
 * Fastify answer carries; clients that leave, stall, or come many at once; a file cut short
 * or deleted while it streams.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { FileRecord } from '../../src/db/types.js';
import { downloadBuffers, sendPooled } from '../../src/serve/pooled-body.js';
import type { BlobReader } from '../../src/storage/blob-store.js';
import type { LocalDiskBlobStore } from '../../src/storage/local-disk.js';
import { processChunkBudget } from '../../src/storage/read-pacer.js';
import { tempDir, testEnv } from '../helpers/app.js';
import { openFds, storageUrl, waitFor } from './serve-helpers.js';

const MiB = 1024 * 1024;
const ORIGIN = 'https://app.example';
const METRICS = 'metrics-' + randomBytes(8).toString('hex');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let app: FastifyInstance;
let root: string;
let base: string;
let env: Record<string, string>;
const lines: string[] = [];

beforeAll(async () => {
  root = await tempDir();
  env = testEnv(root, { LOG_LEVEL: 'info', METRICS_TOKEN: METRICS, CORS_ORIGINS: ORIGIN });
  app = await buildApp(loadConfig(env), { logStream: { write: (line: string) => void lines.push(line) } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  await app?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const store = (name: string, body: Buffer): Promise<FileRecord> =>
  app.ctx.files.storeObject('pool-u', { folder: 'p', filename: name, mime: 'application/octet-stream' }, Readable.from([body]));
const diskPath = (key: string): string => (app.ctx.blobs as LocalDiskBlobStore).pathOf(key);
/** Descriptors of this process open on `file` (/proc/self/fd). */
async function handlesOn(file: string): Promise<number> {
  const fds = await fs.readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => fs.readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => t === file).length;
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
}

/** GET `path`; `during(res, received)` runs on every chunk (a test may pause the response there). */
function get(path: string, headers: Record<string, string> = {}, during?: (res: http.IncomingMessage, received: number) => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          received += c.length;
          during?.(res, received);
        });
        const done = (): void => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
        res.on('end', done);
        res.on('error', done); // cut short: the caller looks at `complete`
      })
      .on('error', reject);
  });
}

const metricsText = async (): Promise<string> => (await get('/metrics', { authorization: `Bearer ${METRICS}` })).body.toString();
const counter = (text: string, pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);

describe('the hijacked answer is the answer Fastify would give', () => {
  it('same headers (CORS and safety headers included) as a small file sent by Fastify; metrics and access log as before', async () => {
    const big = await store('big.bin', randomBytes(2 * MiB));
    const small = await store('small.bin', randomBytes(1000)); // ≤ SMALL_READ_BYTES: reply.send(buffer)
    const before = await metricsText();
    const [b, s] = [await get(storageUrl(big.key), { origin: ORIGIN }), await get(storageUrl(small.key), { origin: ORIGIN })];
    expect([b.status, s.status]).toEqual([200, 200]);
    expect(b.body.length).toBe(2 * MiB);
    expect(sha(b.body)).toBe(big.sha256);
    // Per-file values differ; every header name, and the value of every shared one, must not.
    const perFile = new Set(['content-length', 'etag', 'last-modified', 'content-disposition', 'date']);
    const shared = (h: http.IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => !perFile.has(k)));
    expect(Object.keys(b.headers).sort()).toEqual(Object.keys(s.headers).sort());
    expect(shared(b.headers)).toEqual(shared(s.headers));
    expect(b.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(b.headers['x-content-type-options']).toBe('nosniff');
    expect(b.headers['content-length']).toBe(String(2 * MiB));

    const after = await metricsText();
    const out = /file_bytes_total\{direction="out"\} (\d+)/;
    expect(counter(after, out) - counter(before, out)).toBe(2 * MiB + 1000);
    const served = /http_request_duration_seconds_count\{[^}]*route="\/storage\/\*"[^}]*status_code="200"[^}]*\} (\d+)/;
    expect(counter(after, served) - counter(before, served)).toBe(2);
    const completed = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request completed' && l.res?.statusCode === 200);
    expect(completed.filter((l) => lines.some((x) => x.includes(l.reqId) && x.includes(encodeURIComponent(big.key.split('/').at(-1)!)))).length).toBeGreaterThan(0);
  });

  it('a single range goes the same way: 206 with its Content-Range, the exact bytes', async () => {
    const data = randomBytes(3 * MiB);
    const f = await store('ranged.bin', data);
    const r = await get(storageUrl(f.key), { range: 'bytes=100000-2500000' });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 100000-2500000/${data.length}`);
    expect(r.body.equals(data.subarray(100000, 2500001))).toBe(true);
  });
});

describe('clients', () => {
  it('clients leaving mid-file close every handle, hand back every buffer grant, and are logged as before', async () => {
    const f = await store('leave.bin', randomBytes(24 * MiB));
    const fds = openFds();
    let opened = 0;
    const logged = lines.length;
    await Promise.all(
      [64 * 1024, MiB, 5 * MiB, 9 * MiB].map(
        (after) =>
          new Promise<void>((resolve) => {
            const req = http.get(`${base}${storageUrl(f.key)}`, (res) => {
              let seen = 0;
              res.on('data', (c: Buffer) => {
                seen += c.length;
                if (seen >= after && !req.destroyed) {
                  void handlesOn(diskPath(f.key)).then((n) => (opened = Math.max(opened, n)));
                  req.destroy();
                }
              });
            });
            req.on('error', () => resolve());
            req.on('close', () => resolve());
          }),
      ),
    );
    expect(opened).toBeGreaterThan(0); // the count below can see a handle
    expect(await waitFor(async () => (await handlesOn(diskPath(f.key))) === 0)).toBe(true);
    expect(await waitFor(() => openFds() <= fds)).toBe(true);
    expect(await waitFor(() => processChunkBudget.inUse === 0)).toBe(true);
    expect(downloadBuffers.retainedBytes).toBeLessThanOrEqual(downloadBuffers.maxRetainedBytes);
    expect(await waitFor(() => lines.slice(logged).filter((l) => l.includes('stream closed prematurely')).length === 4)).toBe(true);
    // The server carries on.
    const again = await get(storageUrl(f.key));
    expect(sha(again.body)).toBe(f.sha256);
  });

  it('twelve downloads of one file at once, whole and ranged, each byte for byte', async () => {
    const data = randomBytes(12 * MiB);
    const f = await store('many.bin', data);
    const signed = await app.inject({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(f.key)}`, headers: { 'x-service-token': env.AUTH_SERVICE_TOKEN! } });
    const viaGet = (signed.json().url as string).replace('http://files.test', '');
    const ranges = [undefined, 'bytes=0-', 'bytes=70000-', 'bytes=1000000-9000000', undefined, 'bytes=-5000000'];
    // The first six by /storage, the others by the signed /get URL.
    const all = await Promise.all([...ranges, ...ranges].map((range, i) => get(i < ranges.length ? storageUrl(f.key) : viaGet, range ? { range } : {})));
    all.forEach((r, i) => {
      const range = [...ranges, ...ranges][i];
      const m = range && /bytes=(\d*)-(\d*)/.exec(range)!;
      const expected = !m ? data : m[1] === '' ? data.subarray(data.length - Number(m[2])) : data.subarray(Number(m[1]), m[2] ? Number(m[2]) + 1 : undefined);
      expect(r.complete).toBe(true);
      expect(sha(r.body), `download ${i} (${range ?? 'whole'})`).toBe(sha(expected));
    });
    expect(await waitFor(() => processChunkBudget.inUse === 0)).toBe(true);
  });
});

describe('the file changes under a download', () => {
  it('cut short on disk: the connection is cut, every byte received is the file\'s (never padded)', async () => {
    const data = randomBytes(32 * MiB);
    const f = await store('cut.bin', data);
    let cut = false;
    const r = await get(storageUrl(f.key), {}, (res, received) => {
      if (cut || received < MiB) return;
      cut = true;
      res.pause();
      void fs.truncate(diskPath(f.key), 4 * MiB).then(() => res.resume());
    });
    expect(r.complete).toBe(false);
    expect(r.body.length).toBeLessThan(data.length);
    expect(r.body.equals(data.subarray(0, r.body.length))).toBe(true);
    expect(await waitFor(() => processChunkBudget.inUse === 0)).toBe(true);
  });

  it('deleted while it streams: the download completes with the bytes it started with', async () => {
    const data = randomBytes(16 * MiB);
    const f = await store('gone.bin', data);
    let deleted = false;
    const r = await get(storageUrl(f.key), {}, (res, received) => {
      if (deleted || received < MiB) return;
      deleted = true;
      res.pause();
      void app.ctx.blobs.delete(f.key).then(() => res.resume());
    });
    expect(deleted).toBe(true);
    expect(r.complete).toBe(true);
    expect(sha(r.body)).toBe(f.sha256);
  });
});

describe('sendPooled back-pressure', () => {
  it('a reader that stops reading stops the reads: nothing more is read while it waits, all of it arrives when it reads again', async () => {
    const size = 64 * MiB;
    const data = randomBytes(size);
    const f = await store('slow.bin', data);
    const real = await app.ctx.blobs.openReader!(f.key);
    let read = 0;
    let closed = 0;
    const reader: BlobReader = {
      read: async (buffer, offset, length, position) => {
        const n = await real.read(buffer, offset, length, position);
        read += n;
        return n;
      },
      close: async () => {
        closed++;
        await real.close();
      },
    };
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      void sendPooled(res, reader, { start: 0, end: size - 1 });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    let socket: net.Socket | undefined;
    try {
      const port = (server.address() as net.AddressInfo).port;
      socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('data', () => socket!.pause()); // stalls at its first bytes
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await waitFor(() => chunks.length > 0);
      const received = chunks.reduce((n, c) => n + c.length, 0);
      await new Promise((r) => setTimeout(r, 500));
      const readWhileStalled = read;
      await new Promise((r) => setTimeout(r, 500));
      // The kernel's socket buffers (ours up to 4 MiB, the client's up to 32 MiB here) take what
      // they take; past them and our two chunks, nothing is read until the client reads again.
      expect(read).toBe(readWhileStalled);
      expect(read).toBeLessThan(size);
      expect(processChunkBudget.inUse).toBeLessThanOrEqual(2 * MiB);
      expect(received).toBeLessThan(size);
      socket.resume();
      await new Promise((r) => socket!.once('end', r));
      const all = Buffer.concat(chunks);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(size);
      expect(sha(body)).toBe(f.sha256);
      expect(closed).toBe(1);
      expect(processChunkBudget.inUse).toBe(0);
      expect(downloadBuffers.retainedBytes).toBeLessThanOrEqual(downloadBuffers.maxRetainedBytes);
    } finally {
      socket?.destroy(); // a failed expectation must not leave the server waiting on a paused client
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
