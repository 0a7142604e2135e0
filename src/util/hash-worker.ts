/**
 * SHA-256 (and MD5 when asked) of upload streams on a worker thread, so the digests cost the
 * event loop nothing but a postMessage per write batch.
 *
 * Why a worker pays here when an earlier try did not: hashing on the main thread cost ~0.7 s
 * of CPU per GiB, but so did garbage collection. Node's HTTP parser hands every body chunk out
 * as a fresh ~64 KiB ArrayBuffer; V8 counts those as external memory and, in a server whose
 * heap holds ~20 MB, ran a full mark-compact every ~30 MB received (~35 per GiB, 25–40 ms
 * each). A chunk handed to the worker by transfer (not copy) leaves the main isolate at once,
 * so it never counts there; the worker's own heap is tiny and its collections cheap. Copying
 * chunks into batches (the earlier experiment) kept them on the main heap: no gain.
 *
 * A chunk is transferred only once it is written (the bytes are no longer needed here) and
 * only when the writer says nothing else holds it (`own`); the others are copied. Per stream
 * at most MAX_IN_FLIGHT bytes wait to be hashed (`room()`): back-pressure reaches the socket.
 * One worker serves every stream of its owner; should it fail, the streams it hashed fail
 * (their writes answer 500, nothing is kept) and the next stream starts a new one.
 */
import { Worker } from 'node:worker_threads';

const MAX_IN_FLIGHT = 8 * 1024 * 1024;

// CommonJS, run with `eval: true`: the same source under tsc's dist/ and vitest's src/.
const WORKER_SOURCE = String.raw`
const { parentPort, MessageChannel } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
// Hashed bytes are freed at once, not at this isolate's next collection (which waits for
// ~64 MB of them: +80 MB RSS during a 1 GiB upload): moved to a closed port, they are detached
// here and the message holding them is dropped on the spot.
const sink = new MessageChannel().port1;
sink.close();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    jobs.set(m.job, { sha256: createHash('sha256'), md5: m.md5 ? createHash('md5') : null });
  } else if (m.op === 'update') {
    const j = jobs.get(m.job);
    let n = 0;
    for (const ab of m.bufs) {
      const u = new Uint8Array(ab);
      n += u.length;
      if (j) {
        j.sha256.update(u);
        if (j.md5) j.md5.update(u);
      }
    }
    sink.postMessage(null, m.bufs);
    parentPort.postMessage({ job: m.job, n });
  } else if (m.op === 'digest') {
    const j = jobs.get(m.job);
    jobs.delete(m.job);
    if (!j) return parentPort.postMessage({ job: m.job, error: 'unknown hash job' });
    parentPort.postMessage({ job: m.job, sha256: j.sha256.digest('hex'), md5: j.md5 ? j.md5.digest('hex') : '' });
  } else if (m.op === 'drop') {
    jobs.delete(m.job);
  }
});
`;

export interface Digests {
  sha256: string;
  md5: string;
}

interface Job {
  acked(n: number): void;
  done(d: Digests): void;
  fail(err: Error): void;
}

/** The digests of one byte stream, computed on the worker. */
export interface StreamHash {
  /**
   * Hands the next bytes over, in order. With `own`, each chunk that is the whole of its
   * ArrayBuffer is moved (detached here: read nothing from it afterwards); others are copied.
   */
  update(chunks: Buffer[], own: boolean): void;
  /** Resolves once few enough bytes wait to be hashed; rejects when the worker failed. */
  room(): Promise<void>;
  /** The digests of everything handed over; the stream is finished. */
  digest(): Promise<Digests>;
  /** Forget the stream (failed); idempotent. */
  drop(): void;
}

const exclusive = (b: Buffer): boolean => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;

export class HashWorker {
  private worker: Worker | null = null;
  private readonly jobs = new Map<number, Job>();
  private nextJob = 0;

  stream(opts: { md5?: boolean } = {}): StreamHash {
    const worker = this.thread();
    const id = ++this.nextJob;
    let inFlight = 0;
    let failure: Error | null = null;
    let waiting: { resolve(): void; reject(err: Error): void } | null = null;
    let result: { resolve(d: Digests): void; reject(err: Error): void } | null = null;
    this.jobs.set(id, {
      acked: (n) => {
        inFlight -= n;
        if (waiting && inFlight <= MAX_IN_FLIGHT) {
          const w = waiting;
          waiting = null;
          w.resolve();
        }
      },
      done: (d) => {
        this.jobs.delete(id);
        result?.resolve(d);
      },
      fail: (err) => {
        failure = err;
        this.jobs.delete(id);
        waiting?.reject(err);
        result?.reject(err);
      },
    });
    worker.postMessage({ op: 'open', job: id, md5: opts.md5 === true });
    return {
      update: (chunks, own) => {
        if (failure || chunks.length === 0) return;
        const bufs: ArrayBuffer[] = [];
        const moved = new Set<ArrayBufferLike>(); // one buffer twice in a transfer list is a DataCloneError: the second is copied
        for (const c of chunks) {
          if (c.length === 0) continue;
          const move = own && exclusive(c) && !moved.has(c.buffer);
          if (move) moved.add(c.buffer);
          bufs.push(move ? (c.buffer as ArrayBuffer) : (new Uint8Array(c).buffer as ArrayBuffer));
          inFlight += c.length;
        }
        worker.postMessage({ op: 'update', job: id, bufs }, bufs);
      },
      room: () => {
        if (failure) return Promise.reject(failure);
        if (inFlight <= MAX_IN_FLIGHT) return Promise.resolve();
        return new Promise<void>((resolve, reject) => (waiting = { resolve, reject }));
      },
      digest: () => {
        if (failure) return Promise.reject(failure);
        return new Promise<Digests>((resolve, reject) => {
          result = { resolve, reject };
          worker.postMessage({ op: 'digest', job: id });
        });
      },
      drop: () => {
        if (!this.jobs.delete(id)) return;
        if (this.worker === worker) worker.postMessage({ op: 'drop', job: id });
      },
    };
  }

  /** Stops the worker; streams still hashing fail. A later stream starts a new one. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.failAll(new Error('the hash worker was closed'));
    await w?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // It holds a hash state per stream and nothing else: a small young generation keeps its RSS low.
    const w = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
    w.unref(); // never what keeps the process alive
    w.on('message', (m: { job: number; n?: number; sha256?: string; md5?: string; error?: string }) => {
      const job = this.jobs.get(m.job);
      if (!job) return;
      if (m.n !== undefined) job.acked(m.n);
      else if (m.error !== undefined) job.fail(new Error(m.error));
      else job.done({ sha256: m.sha256!, md5: m.md5 ?? '' });
    });
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failAll(err);
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`the hash worker exited (${code})`)));
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const j of jobs) j.fail(err);
  }
}
