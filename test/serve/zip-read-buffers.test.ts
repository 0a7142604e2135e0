/**
 * Stored ZIP batches read their entries into recycled 1 MiB buffers (storage/read-buffers.ts),
 * each reused only once the response has written it out. The archive is checked byte for byte
 * over a real socket, read fast and read by a client that keeps stopping (so the socket's
 * queue fills while buffers wait), and the pool is seen to be reused.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecycledReadBuffers, readBufferStats } from '../../src/storage/read-buffers.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { listen, readZip, sha256, storeFile } from './serve-helpers.js';

const MiB = 1024 * 1024;

describe('RecycledReadBuffers', () => {
  it('reuses a buffer only after a chunk of it passed and everything passed was then written', () => {
    const pool = new RecycledReadBuffers();
    const a = pool.take(MiB);
    pool.written(); // nothing passed yet: a is not free
    const b = pool.take(MiB);
    expect(b.buffer).not.toBe(a.buffer);
    pool.passing(a.subarray(0, 700_000)); // a short read's chunk
    const c = pool.take(MiB);
    expect([a.buffer, b.buffer]).not.toContain(c.buffer); // passed, not yet written
    pool.written();
    expect(pool.take(512 * 1024).buffer).toBe(a.buffer);
  });

  it('gives reads under 256 KiB and over 1 MiB plain buffers, and ignores chunks that are not its own', () => {
    const pool = new RecycledReadBuffers();
    const made = readBufferStats.made;
    const small = pool.take(64 * 1024);
    const big = pool.take(2 * MiB);
    expect([small.length, big.length]).toEqual([64 * 1024, 2 * MiB]);
    expect(readBufferStats.made).toBe(made);
    pool.passing(small);
    pool.passing(Buffer.alloc(MiB));
    const reused = readBufferStats.reused;
    pool.written();
    expect(readBufferStats.reused).toBe(reused);
  });
});

describe('stored ZIP over a real socket, entries read into recycled buffers', () => {
  let s: TestServer;
  let base: string;
  let work: string;
  const bodies: Buffer[] = [];
  let token: () => Promise<string>;

  beforeAll(async () => {
    s = await startTestServer();
    ({ base } = await listen(s));
    work = await tempDir('sl-zipbuf-');
    const keys: string[] = [];
    for (let i = 0; i < 12; i++) {
      const body = randomBytes(3 * MiB + i * 4099);
      bodies.push(body);
      keys.push((await storeFile(s, 'zed', `f${i}.bin`, body)).key);
    }
    token = async () => (await s.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys } })).json().token;
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
    await s.close();
  });

  /** The ZIP, read with a pause of `pauseMs` after every `every` bytes (0: no pauses). */
  const download = (t: string, every: number, pauseMs: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      http.get(`${base}/v1/files/batch-download/${t}`, (res) => {
        expect(res.statusCode).toBe(200);
        const chunks: Buffer[] = [];
        let since = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          since += c.length;
          if (every && since >= every) {
            since = 0;
            res.pause();
            setTimeout(() => res.resume(), pauseMs);
          }
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });

  const check = async (zip: Buffer, name: string) => {
    const file = path.join(work, name);
    await fs.writeFile(file, zip);
    const entries = await readZip(file);
    expect(entries.map((e) => e.name)).toEqual(bodies.map((_, i) => `f${i}.bin`));
    entries.forEach((e, i) => expect(e.sha256, e.name).toBe(sha256(bodies[i]!)));
  };

  it('read at full speed: every entry byte for byte, and the buffers were reused', async () => {
    const reused = readBufferStats.reused;
    await check(await download(await token(), 0, 0), 'fast.zip');
    expect(readBufferStats.reused - reused).toBeGreaterThan(4);
  });

  it('read by a client that stops every 2 MiB for 5 ms: every entry byte for byte', async () => {
    const reused = readBufferStats.reused;
    await check(await download(await token(), 2 * MiB, 5), 'paused.zip');
    expect(readBufferStats.reused).toBeGreaterThan(reused);
  });
});
