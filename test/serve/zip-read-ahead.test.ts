/**
 * ZIP read-ahead (src/serve/zip-read-ahead.ts) over a real socket, on the disk and (project
 * `s3`) on S3: while the first entry drains, the next two entries' streams are open; a client
 * that goes away mid-ZIP, or an entry that fails mid-batch, leaves every stream the archive
 * opened destroyed (on S3 a stream left open holds one of the client's pooled sockets).
 * The streams are the store's own, observed by wrapping its `read`.
 */
import http from 'node:http';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { listen, patterned, putBytes, readZip, sha256, storeFile } from './serve-helpers.js';

const MiB = 1024 * 1024;
/** The first entry outlasts what the kernel's socket buffers swallow while the client pauses. */
const SIZES = [16 * MiB, MiB, MiB, MiB, MiB];

let s: TestServer;
let base: string;
const files: FileRecord[] = [];
/** Streams the store handed out for reads started in this case, by key. */
let opened: { key: string; stream: Readable }[] = [];
/** Replaces the stream of this key (a failure injected at one entry). */
let failAfter: { key: string; bytes: number } | null = null;

beforeAll(async () => {
  s = await startTestServer();
  base = (await listen(s)).base;
  for (const [i, size] of SIZES.entries()) files.push(await storeFile(s, 'alice', `f${i}.bin`, patterned(size, i + 1)));
  const blobs = s.app.ctx.blobs;
  const read = blobs.read.bind(blobs);
  blobs.read = async (key, range, opts) => {
    const list = opened; // a read a previous case started counts there, whenever it settles
    const stream = await read(key, range, opts);
    list.push({ key, stream });
    if (failAfter?.key !== key) return stream;
    // The store's stream, cut after `bytes` by an error (pipeline destroys the store's stream too).
    let seen = 0;
    const limit = failAfter.bytes;
    const cut = new PassThrough({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(seen > limit ? new Error('read failed mid-entry') : null, chunk);
      },
    });
    return pipeline(stream, cut, () => undefined);
  };
});
afterAll(async () => s?.close());
beforeEach(() => {
  opened = [];
  failAfter = null;
});

async function token(keys: string[]): Promise<string> {
  const res = await s.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys } });
  expect(res.statusCode).toBe(201);
  return res.json().token as string;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GETs the ZIP; resolves with the response once `bytes` of it arrived (then paused; 0: at once), and the request. */
function startZip(tok: string, bytes: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/v1/files/batch-download/${tok}`, (res) => {
      let got = 0;
      res.on('error', () => undefined); // the cut is what the failure test expects
      if (bytes <= 0) return resolve({ req, res }); // nothing read yet: the caller takes it all
      const onData = (c: Buffer): void => {
        got += c.length;
        if (got < bytes) return;
        res.off('data', onData);
        res.pause();
        resolve({ req, res });
      };
      res.on('data', onData);
    });
    req.on('error', reject);
  });
}

/** Reads the rest of the answer; resolves whether it ended or was cut. */
function drain(res: http.IncomingMessage): Promise<{ bytes: number; complete: boolean; body: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('close', () => {
      const body = Buffer.concat(chunks);
      resolve({ bytes: body.length, complete: res.complete, body });
    });
    res.resume();
  });
}

const allDestroyed = () => opened.every((o) => o.stream.destroyed);

describe('ZIP read-ahead', () => {
  it('the next two entries are open while the first drains; a client gone mid-ZIP leaves none open', async () => {
    const { req, res } = await startZip(await token(files.map((f) => f.key)), 256 * 1024);
    try {
      await until(() => opened.length >= 3, 'the read-ahead');
      await new Promise((r) => setTimeout(r, 200));
      // The first entry is still draining (the client paused) and nothing beyond two ahead is open.
      expect(opened.map((o) => o.key).sort()).toEqual(files.slice(0, 3).map((f) => f.key).sort());
      expect(opened.filter((o) => !o.stream.destroyed)).toHaveLength(3);
    } finally {
      res.destroy();
      req.destroy();
    }
    await until(allDestroyed, 'every opened stream destroyed');
    await new Promise((r) => setTimeout(r, 200));
    expect(opened).toHaveLength(3); // nothing opened after the client went away
    // The server goes on answering (and its S3 pool was not exhausted by leaked sockets).
    const whole = await drain((await startZip(await token([files[0]!.key]), 0)).res);
    expect(whole.complete).toBe(true);
    expect(whole.bytes).toBeGreaterThan(SIZES[0]!);
  });

  it('a stream that breaks while it waits its turn is read again then: the archive is whole', async () => {
    const keys = files.slice(0, 3).map((f) => f.key);
    // The whole answer is collected from the first byte on.
    const { req, res } = await startZip(await token(keys), 0);
    const whole = drain(res);
    res.pause();
    try {
      await until(() => opened.some((o) => o.key === keys[2]), 'the third entry opened ahead');
      // As an idle S3 connection dropped during a slow download would.
      opened.find((o) => o.key === keys[2])!.stream.destroy(new Error('connection reset while waiting'));
    } finally {
      res.resume();
    }
    const out = await whole;
    expect(out.complete).toBe(true);
    const file = path.join(s.root, 'read-again.zip');
    await fs.writeFile(file, out.body);
    const entries = await readZip(file);
    expect(entries.map((e) => e.sha256)).toEqual(SIZES.slice(0, 3).map((size, i) => sha256(patterned(size, i + 1))));
    expect(opened.filter((o) => o.key === keys[2])).toHaveLength(2); // opened ahead, then again at its turn
    req.destroy();
  });

  it('an entry failing mid-batch cuts the archive and closes every stream opened ahead', async () => {
    failAfter = { key: files[1]!.key, bytes: MiB / 2 };
    const { res } = await startZip(await token(files.map((f) => f.key)), 0);
    const out = await drain(res);
    expect(out.complete).toBe(false);
    expect(out.bytes).toBeGreaterThan(SIZES[0]!); // the first entry went out whole, the second not
    expect(out.bytes).toBeLessThan(SIZES[0]! + SIZES[1]!);
    await until(allDestroyed, 'every opened stream destroyed');
    expect(opened.length).toBeGreaterThanOrEqual(3);
    expect(opened.length).toBeLessThanOrEqual(4); // f1 failed while f2 and at most f3 were open ahead
  });

  it('a name no entry can carry is refused before any stream is opened (the length is computed first)', async () => {
    const legacy: FileRecord = { ...files[0]!, id: '1'.repeat(32), key: `storage/alice/${'1'.repeat(32)}_..`, filename: '..' };
    await putBytes(s, legacy.key, 'x');
    await s.app.ctx.store.files.insertFile(legacy, s.app.ctx.files.quotaCheck('alice'));
    const keys = [files[0]!.key, legacy.key, files[2]!.key, files[3]!.key, files[4]!.key];
    const { res } = await startZip(await token(keys), 0);
    expect(res.statusCode).toBe(500);
    await drain(res);
    expect(opened).toHaveLength(0);
  });
});
