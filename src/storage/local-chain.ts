/**
 * The whole file's SHA-256 on disk, advanced in the background as parts are acknowledged, so a
 * completion has (almost) nothing left to hash. SHA-256 cannot be combined from the parts'
 * digests, so the chain reads each part back once it is durable — from the page cache, where
 * it was just written — in order: part n joins once parts 1…n−1 have. Parts acknowledged out of
 * order (sent in parallel) wait as a few numbers (where their bytes are), never as bytes.
 *
 * The chain runs in a worker thread of its own, with synchronous reads into one 1 MiB buffer:
 * on the event loop it took main-thread time from the uploads, and its reads queued in libuv's
 * thread pool behind the parts' writes and fdatasyncs (a 1 GiB upload ×4 ended with its chain
 * 0.5–0.8 s behind, read time 4 of 5 s). The worker's source is a string (chain-worker below),
 * so the same code runs from src/ under the tests and from dist/.
 *
 * Beside the bytes' hash the chain hashes which copies it holds (part number, ref, digest); at
 * completion it counts for the longest prefix of the parts the record names with those very
 * copies, and the worker hashes the rest then. Parts sent to another instance, re-sent, or a
 * restart cost that read, never a wrong digest. Per instance and in memory: many instances may
 * share one disk, each with its own chains. Should the worker fail, the digest is read here.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { PartRef } from './blob-store.js';

/** A copy acknowledged by the store: where its bytes are. */
export interface Acknowledged {
  n: number;
  ref: string;
  sha256: string;
  file: string;
  start: number;
  size: number;
}

/** What a completion asks: the digest of `file`[0, size), the chain used for parts 1…k. */
export interface DigestRequest {
  parts: PartRef[];
  file: string;
  size: number;
  partSize: number;
}

/** Uploads chained at once (the least recently acknowledged forgotten first). */
const MAX_UPLOADS = 10_000;
/** Acknowledged parts waiting for their turn, over all uploads (each a few hundred bytes). */
const MAX_PENDING = 100_000;
const READ_BUFFER = 1024 * 1024;

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const { maxUploads, maxPending, readBuffer } = workerData;
const buf = Buffer.allocUnsafeSlow(readBuffer);
const chains = new Map();
let pendingCount = 0;
const line = (n, ref, sha256) => n + ':' + ref + ':' + sha256 + ';';
function hashRange(file, start, size, hash) {
  const fd = fs.openSync(file, 'r');
  try {
    for (let done = 0; done < size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - done), start + done);
      if (n === 0) throw new Error('shorter than acknowledged');
      hash.update(buf.subarray(0, n));
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
function forget(id) {
  const c = chains.get(id);
  if (!c) return;
  pendingCount -= c.pending.size;
  chains.delete(id);
}
function advance(id, c) {
  for (let next = c.pending.get(c.n + 1); next; next = c.pending.get(c.n + 1)) {
    c.pending.delete(next.n);
    pendingCount--;
    try {
      const h = c.bytes.copy();
      hashRange(next.file, next.start, next.size, h);
      c.bytes = h;
    } catch {
      return forget(id); // its bytes went (discarded): the completion reads instead
    }
    c.copies.update(line(next.n, next.ref, next.sha256));
    c.n = next.n;
  }
}
function ack(m) {
  let c = chains.get(m.uploadId);
  if (!c) {
    c = { n: 0, bytes: createHash('sha256'), copies: createHash('sha256'), pending: new Map() };
    chains.set(m.uploadId, c);
    while (chains.size > maxUploads) forget(chains.keys().next().value);
  }
  if (m.n <= c.n) return; // hashed with an earlier copy: the completion tells whether it counts
  if (!c.pending.has(m.n)) {
    if (pendingCount >= maxPending) return;
    pendingCount++;
  }
  c.pending.set(m.n, m);
  advance(m.uploadId, c);
}
function prefix(id, parts) {
  const c = chains.get(id);
  const none = { k: 0, hash: createHash('sha256') };
  if (!c || c.n === 0 || c.n > parts.length) return none;
  const named = createHash('sha256');
  for (let i = 0; i < c.n; i++) {
    if (parts[i].partNumber !== i + 1) return none;
    named.update(line(parts[i].partNumber, parts[i].ref, parts[i].sha256));
  }
  return named.digest('hex') === c.copies.copy().digest('hex') ? { k: c.n, hash: c.bytes.copy() } : none;
}
parentPort.on('message', (m) => {
  if (m.op === 'ack') return ack(m);
  if (m.op === 'forget') return forget(m.uploadId);
  if (m.op === 'digest') {
    try {
      const { k, hash } = prefix(m.uploadId, m.parts);
      const start = k * m.partSize;
      if (!m.covered) hashRange(m.file, start, m.size - start, hash);
      parentPort.postMessage({ id: m.id, k, sha256: m.covered ? null : hash.digest('hex') });
    } catch (err) {
      parentPort.postMessage({ id: m.id, error: String(err && err.message) });
    }
  }
});
`;

interface Call {
  resolve(v: { k: number; sha256: string | null }): void;
  reject(err: Error): void;
}

export class DigestChains {
  private worker: Worker | null = null;
  private readonly calls = new Map<number, Call>();
  private nextId = 0;

  /** A copy of part `n` is durable: it joins the chain when its turn comes. */
  acknowledged(uploadId: string, ack: Acknowledged): void {
    this.thread().postMessage({ op: 'ack', uploadId, ...ack });
  }

  /** The whole file's digest: the chain's prefix, the rest read back in the worker. */
  async digest(uploadId: string, req: DigestRequest): Promise<string> {
    try {
      return (await this.ask(uploadId, req, false)).sha256!;
    } catch {
      return hashHere(req.file, req.size); // the worker failed: read it all here
    }
  }

  /** How many parts (1…k) the chain holds with exactly these copies, once what was acknowledged has joined. */
  async covered(uploadId: string, parts: PartRef[]): Promise<number> {
    return (await this.ask(uploadId, { parts, file: '', size: 0, partSize: 0 }, true)).k;
  }

  forget(uploadId: string): void {
    this.worker?.postMessage({ op: 'forget', uploadId });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private ask(uploadId: string, req: DigestRequest, covered: boolean): Promise<{ k: number; sha256: string | null }> {
    const id = ++this.nextId;
    const parts = req.parts.map((p) => ({ partNumber: p.partNumber, ref: p.ref, sha256: p.sha256 }));
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.thread().postMessage({ op: 'digest', id, uploadId, parts, file: req.file, size: req.size, partSize: req.partSize, covered });
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { maxUploads: MAX_UPLOADS, maxPending: MAX_PENDING, readBuffer: READ_BUFFER } });
    w.unref(); // never keeps the process alive
    w.on('message', (m: { id: number; k?: number; sha256?: string | null; error?: string }) => {
      const call = this.calls.get(m.id);
      this.calls.delete(m.id);
      if (m.error !== undefined) call?.reject(new Error(m.error));
      else call?.resolve({ k: m.k ?? 0, sha256: m.sha256 ?? null });
    });
    const failed = (err: Error) => {
      if (this.worker === w) this.worker = null; // the next part starts a new one (its chains are gone)
      for (const call of this.calls.values()) call.reject(err);
      this.calls.clear();
    };
    w.on('error', failed);
    w.on('exit', () => failed(new Error('the digest worker exited')));
    this.worker = w;
    return w;
  }
}

async function hashHere(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(READ_BUFFER);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), done);
      if (bytesRead === 0) throw new Error('the data file is shorter than its parts');
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}
