/**
 * F-04 building blocks: FileSource (a range of an open object, here a file, as a Readable that keeps little in memory when
 * its reader stalls) and SinkPacer / LargeChunkBudget (read sizes that grow only for a reader
 * that proves fast, big chunks under a process-wide budget).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/storage/file-source.js';
import { openLocalReader } from '../../src/storage/local-reader.js';
import { DEFAULT_PACER_LIMITS, LargeChunkBudget, SinkPacer } from '../../src/storage/read-pacer.js';
import { tempDir } from '../helpers/app.js';
import { patterned } from '../serve/serve-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
let dir: string;
let file: string;
let data: Buffer;

beforeAll(async () => {
  dir = await tempDir('sl-filesource-');
  file = path.join(dir, 'data.bin');
  data = patterned(5 * MiB + 123, 9);
  await fs.writeFile(file, data);
});
afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function collect(source: FileSource): Promise<{ bytes: Buffer; chunkSizes: number[] }> {
  const chunks: Buffer[] = [];
  await pipeline(source, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return { bytes: Buffer.concat(chunks), chunkSizes: chunks.map((c) => c.length) };
}

describe('FileSource', () => {
  it('reads the whole file, a range, an empty range, and stops early at a short file', async () => {
    const whole = await collect(new FileSource(await openLocalReader(file, 'data.bin'), { start: 0, end: Number.MAX_SAFE_INTEGER }));
    expect(sha(whole.bytes)).toBe(sha(data));
    const range = await collect(new FileSource(await openLocalReader(file, 'data.bin'), { start: 1000, end: 3 * MiB + 7 }));
    expect(range.bytes.equals(data.subarray(1000, 3 * MiB + 8))).toBe(true);
    const empty = await collect(new FileSource(await openLocalReader(file, 'data.bin'), { start: 10, end: 9 }));
    expect(empty.bytes.length).toBe(0);
    const short = await collect(new FileSource(await openLocalReader(file, 'data.bin'), { start: data.length - 10, end: data.length + 5000 }));
    expect(short.bytes.equals(data.subarray(data.length - 10))).toBe(true);
  });

  it('without a sink to watch (read with for await, not piped), reads stay small and never read ahead', async () => {
    const source = new FileSource(await openLocalReader(file, 'data.bin'), { start: 0, end: 2 * MiB - 1 });
    const sizes: number[] = [];
    for await (const chunk of source) sizes.push((chunk as Buffer).length);
    expect(Math.max(...sizes)).toBe(DEFAULT_PACER_LIMITS.unwatchedChunk);
  });

  it('piped into a Writable, it reads at the minimum until the reader proves fast', async () => {
    const { chunkSizes } = await collect(new FileSource(await openLocalReader(file, 'data.bin'), { start: 0, end: 2 * MiB - 1 }));
    expect(Math.max(...chunkSizes)).toBe(DEFAULT_PACER_LIMITS.minChunk);
  });

  it('a reader that stops: nothing read ahead beyond one chunk, and that one is let go', async () => {
    const budget = new LargeChunkBudget(8 * MiB);
    // A pacer that has seen a fast reader: big chunks with read-ahead.
    const pacer = { nextChunk: () => (budget.take(MiB) ? { size: MiB, granted: MiB } : { size: 64 * KiB, granted: 0 }), release: (g: number) => budget.give(g), pushed: () => undefined, readAhead: () => true };
    const source = new FileSource(await openLocalReader(file, 'data.bin'), { start: 0, end: data.length - 1, pacer });
    const first = await new Promise<Buffer>((resolve) => source.once('data', (c: Buffer) => (source.pause(), resolve(c))));
    expect(first.length).toBe(MiB);
    // The read-ahead chunk is held for a moment (a fast reader comes back for it)…
    await new Promise((r) => setTimeout(r, 100));
    expect(budget.inUse).toBe(2 * MiB);
    // …and dropped when the reader stays away (the chunk it got stays granted until it asks again).
    await new Promise((r) => setTimeout(r, 700));
    expect(budget.inUse).toBe(MiB);
    expect(source.readableLength).toBe(0);
    // Coming back, it gets every byte in order (the dropped chunk is read again).
    const rest = await collect(source.resume() as FileSource);
    expect(Buffer.concat([first, rest.bytes]).equals(data)).toBe(true);
    expect(budget.inUse).toBe(0);
  });

  it('destroying it closes the file and returns every grant', async () => {
    const budget = new LargeChunkBudget(8 * MiB);
    const pacer = { nextChunk: () => (budget.take(MiB), { size: MiB, granted: MiB }), release: (g: number) => budget.give(g), pushed: () => undefined, readAhead: () => true };
    const handle = await fs.open(file);
    const reader = { read: async (b: Buffer, o: number, l: number, p: number) => (await handle.read(b, o, l, p)).bytesRead, close: () => handle.close() };
    const source = new FileSource(reader, { start: 0, end: data.length - 1, pacer });
    await new Promise<void>((resolve) => source.once('data', () => (source.pause(), resolve())));
    await new Promise((r) => setTimeout(r, 50));
    source.destroy();
    await new Promise((r) => source.once('close', r));
    expect(budget.inUse).toBe(0);
    await expect(handle.stat()).rejects.toThrow(); // closed
  });
});

describe('SinkPacer', () => {
  const sink = (): PassThrough => new PassThrough();

  it('does not grow while kernel buffers could still be absorbing (prompt drains before absorbBytes)', () => {
    let now = 0;
    const pacer = new SinkPacer(new LargeChunkBudget(64 * MiB), DEFAULT_PACER_LIMITS, () => now);
    const s = sink();
    pacer.attach(s);
    for (let sent = 0; sent < 6 * MiB; sent += 64 * KiB) {
      pacer.pushed(64 * KiB);
      now += 1;
      s.emit('drain');
    }
    expect(pacer.nextChunk().size).toBe(DEFAULT_PACER_LIMITS.minChunk);
  });

  it('grows on prompt drains once enough went out, falls back on a slow drain', () => {
    let now = 0;
    const budget = new LargeChunkBudget(64 * MiB);
    const pacer = new SinkPacer(budget, DEFAULT_PACER_LIMITS, () => now);
    const s = sink();
    pacer.attach(s);
    const step = (bytes: number, drainAfterMs: number): number => {
      pacer.pushed(bytes);
      now += drainAfterMs;
      s.emit('drain');
      const grant = pacer.nextChunk();
      pacer.release(grant.granted);
      return grant.size;
    };
    for (let i = 0; i < 130; i++) step(64 * KiB, 10); // 8 MiB + a bit, with prompt drains
    const sizes = [step(64 * KiB, 5), step(128 * KiB, 5), step(256 * KiB, 5), step(512 * KiB, 5)];
    expect(sizes.at(-1)).toBe(MiB);
    expect(pacer.readAhead()).toBe(true);
    expect(step(MiB, 2000)).toBe(DEFAULT_PACER_LIMITS.minChunk); // a trickle
    expect(pacer.readAhead()).toBe(false);
    expect(budget.inUse).toBe(0);
  });

  it('big chunks come out of the shared budget; when it is spent, readers get small chunks', () => {
    const budget = new LargeChunkBudget(2 * MiB);
    const fast = () => {
      const pacer = new SinkPacer(budget, { ...DEFAULT_PACER_LIMITS, absorbBytes: 0 });
      pacer.attach(sink());
      pacer.pushed(1); // absorbBytes 0: proven at once
      return pacer;
    };
    const [a, b, c] = [fast(), fast(), fast()];
    const grants = [a.nextChunk(), b.nextChunk(), c.nextChunk()];
    expect(grants.map((g) => g.size)).toEqual([MiB, MiB, DEFAULT_PACER_LIMITS.minChunk]);
    expect(budget.inUse).toBe(2 * MiB);
    a.release(grants[0]!.granted);
    expect(c.nextChunk().size).toBe(MiB);
  });
});
