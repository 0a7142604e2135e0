/**
 * F-04 memory per stalled reader, against the real `node dist/main.js`: hundreds of clients
 * that request a 20 MB public file (or a ZIP of two) and then stop reading must not pin
 * megabytes each: a reader that stops reading holds ≤ 256 KiB of our buffers. Before the
 * fix a stalled /storage reader pinned ~2.1 MB (1 MiB read buffers) and a ZIP reader ~6 MB.
 * The same on S3, where each reader's bytes arrive through a staging buffer (body-tap.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.js';
import { processEnv, startServerProcess, type ServerProcess } from '../helpers/process.js';
import { describeS3, freshS3, type S3Place } from '../helpers/s3.js';
import { storageUrl } from '../serve/serve-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const READERS = 300;
/** 256 KiB of buffers, plus what Node itself keeps per connection (socket, parser, request). */
const BUDGET_PER_READER = 256 * KiB + 96 * KiB;

let server: ServerProcess;
let root: string;
const keys: string[] = [];

const rssOf = async (pid: number): Promise<number> => {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * KiB;
};

async function api(method: string, url: string, body?: unknown, raw?: Buffer): Promise<any> {
  const res = await fetch(server.base + url, {
    method,
    headers: {
      'x-service-token': server.env.AUTH_SERVICE_TOKEN!,
      'content-type': raw ? 'application/octet-stream' : 'application/json',
    },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${url} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function upload(name: string, size: number): Promise<string> {
  const data = randomBytes(size);
  const init = await api('POST', '/v1/files/init', { mode: 'single', files: [{ name, size }], user_id: 'stall' });
  await api('PUT', `/v1/files/part?uploadId=${init.uploadId}&partNumber=1`, undefined, data);
  const done = await api('POST', '/v1/files/complete', { uploadId: init.uploadId });
  return done.key as string;
}

/** Opens `n` connections that GET `target`, take the first bytes of the answer, then never read again. */
async function stalledReaders(target: string, n: number, headers = ''): Promise<net.Socket[]> {
  const open = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('data', (first: Buffer) => {
        socket.pause();
        if (!/^HTTP\/1\.1 20[06]/.test(first.toString('latin1'))) reject(new Error(first.toString('latin1', 0, 200)));
        else resolve(socket);
      });
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
    });
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 25) sockets.push(...(await Promise.all(Array.from({ length: Math.min(25, n - i) }, open))));
  return sockets;
}

/** RSS once it stops growing (the server has filled every socket it can). */
async function settledRss(): Promise<number> {
  let last = await rssOf(server.child.pid!);
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await rssOf(server.child.pid!);
    if (Math.abs(now - last) < 2 * MiB) return now;
    last = now;
  }
  return last;
}

async function measure(target: string, headers = ''): Promise<{ perReader: number; total: number }> {
  // Warm up so the baseline is fair: JIT and pools (a few readers of the real target), and
  // the heap Node needs for READERS connections as such (each fetches a small file; the
  // connections are then closed, their objects collected and the space kept for the next ones).
  for (const s of await stalledReaders(target, 10, headers)) s.destroy();
  for (const s of await stalledReaders(storageUrl(keys[2]!), READERS)) s.destroy();
  await new Promise((r) => setTimeout(r, 500));
  const before = await settledRss();
  const sockets = await stalledReaders(target, READERS, headers);
  const after = await settledRss();
  for (const s of sockets) s.destroy();
  return { perReader: (after - before) / READERS, total: after - before };
}

let env: Record<string, string>;

async function stop(): Promise<void> {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  await server?.exited;
}

/** Each case gets a fresh process on the same data: memory freed after one case must not flatter the next. */
async function restart(): Promise<void> {
  await stop();
  server = await startServerProcess(env);
}

/** The three cases on one store: the disk, or the test S3 server (`extraEnv` adds its variables). */
function stalledReaderCases(store: string, extraEnv: () => Promise<Record<string, string>>): void {
  beforeAll(async () => {
    root = await tempDir();
    keys.length = 0;
    env = processEnv(root, { MAX_CONNECTIONS_PER_ADDRESS: '0', BODY_IDLE_TIMEOUT_SECONDS: '600', ...(await extraEnv()) });
    server = await startServerProcess(env);
    keys.push(await upload('big-1.bin', 20 * 1000 * 1000), await upload('big-2.bin', 20 * 1000 * 1000), await upload('small.txt', 1000));
  }, 120_000);

  afterAll(async () => {
    await stop();
    await fs.rm(root, { recursive: true, force: true });
  });

  it(`${READERS} stalled /storage readers of a 20 MB public file hold ≤ 256 KiB each (${store})`, async () => {
    await restart();
    const { perReader, total } = await measure(storageUrl(keys[0]!));
    console.log(`stalled /storage readers (${store}): +${(total / MiB).toFixed(1)} MiB for ${READERS}, ${(perReader / KiB).toFixed(0)} KiB each`);
    expect(perReader).toBeLessThanOrEqual(BUDGET_PER_READER);
  }, 120_000);

  it(`${READERS} stalled multi-range readers (16 ranges of 1 MB) hold ≤ 256 KiB each (${store})`, async () => {
    await restart();
    const ranges = Array.from({ length: 16 }, (_, i) => `${i * 1_200_000}-${i * 1_200_000 + 999_999}`).join(',');
    const { perReader, total } = await measure(storageUrl(keys[1]!), `Range: bytes=${ranges}\r\n`);
    console.log(`stalled multi-range readers (${store}): +${(total / MiB).toFixed(1)} MiB for ${READERS}, ${(perReader / KiB).toFixed(0)} KiB each`);
    expect(perReader).toBeLessThanOrEqual(BUDGET_PER_READER);
  }, 120_000);

  it(`${READERS} stalled ZIP readers hold ≤ 256 KiB each (${store})`, async () => {
    await restart();
    const batch = await api('POST', '/v1/files/batch-download', { keys, user_id: 'stall' });
    const { perReader, total } = await measure(new URL(batch.url).pathname);
    console.log(`stalled ZIP readers (${store}): +${(total / MiB).toFixed(1)} MiB for ${READERS}, ${(perReader / KiB).toFixed(0)} KiB each`);
    expect(perReader).toBeLessThanOrEqual(BUDGET_PER_READER);
  }, 120_000);
}

describe('F-04 memory per stalled reader', () => {
  stalledReaderCases('disk', async () => ({}));
});

describeS3('F-04 memory per stalled reader, bytes on S3 (each reader also holds an S3 connection)', () => {
  let place: S3Place | undefined;
  afterAll(async () => place?.drop());
  stalledReaderCases('S3', async () => {
    place = await freshS3('stall');
    return place.env;
  });
});
