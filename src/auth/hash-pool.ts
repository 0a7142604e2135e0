/**
 * Where password hashes are computed: worker threads of their own (piscina), behind a bounded
 * queue. A hash costs real memory and CPU (argon2id at OWASP's m = 19 MiB, t = 2: 19 MiB and
 * ~50 ms; a legacy scrypt hash at N = 2^17: 128 MiB and over a second); on libuv's threadpool
 * (node:crypto's async scrypt, the binding's async argon2) a login flood queued ahead of every
 * file read and write and stalled downloads for seconds. Here at most `concurrency` hashes run
 * (so memory is bounded by concurrency × one hash), at most `queue` wait, and anyone beyond
 * that is told to come back later (503 + Retry-After) instead of piling up.
 *
 * Measured for argon2id (start with ADMIN_PASSWORD + 10 logins at once, real process): the
 * binding's own async hash (libuv's threadpool) peaked ~8 MB lower (VmHWM 130–139 vs 141–146 MB,
 * the worker's isolate) at the same latency, but would share that pool with file I/O again and
 * lose the lower priority; the worker stays.
 */
import { Piscina } from 'piscina';
import { AppError } from '../errors/index.js';

/** One key derivation: argon2id for every new hash, scrypt for hashes stored before it. */
export type DeriveTask = Argon2Task | ScryptTask;

export interface Argon2Task {
  kind: 'argon2id';
  password: string;
  salt: Buffer;
  memoryKiB: number;
  passes: number;
  lanes: number;
  keyLength: number;
}

export interface ScryptTask {
  kind: 'scrypt';
  password: string;
  salt: Buffer;
  logN: number;
  r: number;
  p: number;
  keyLength: number;
}

export interface HashPoolOptions {
  /** Hashes computed at once (worker threads). */
  concurrency: number;
  /** Hashes waiting for a thread; beyond this, LoginBusyError. */
  queue: number;
  /** An idle worker thread exits after this long (it is restarted on demand). */
  idleTimeoutMs?: number;
}

/** 503: the hashing queue is full. Not a failed login: it costs the caller nothing to retry. */
export class LoginBusyError extends AppError {
  constructor(retryAfterSeconds: number) {
    // A minute at most: the estimate is a moving average, and a client told to wait longer gives up.
    super('login_busy', 'Too many logins in progress, try again shortly', { retryAfterSeconds: Math.min(60, retryAfterSeconds) });
  }
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class HashPool {
  private pool: Piscina<DeriveTask, Uint8Array> | null = null;
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** Moving average of one hash's duration, for Retry-After. */
  private averageMs = 100;
  private closed = false;

  constructor(private readonly opts: HashPoolOptions) {}

  /** Hashes now, or after a wait in the queue; throws LoginBusyError when the queue is full. */
  async derive(task: DeriveTask): Promise<Buffer> {
    await this.acquire();
    const started = performance.now();
    try {
      const key = await this.workers().run(task);
      this.averageMs = 0.8 * this.averageMs + 0.2 * (performance.now() - started);
      return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    } finally {
      this.release();
    }
  }

  /** Stops the worker threads; hashes still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error('password hashing stopped'));
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }

  private acquire(): Promise<void> | void {
    if (this.closed) throw new Error('password hashing stopped');
    if (this.running < this.opts.concurrency) {
      this.running += 1;
      return;
    }
    if (this.waiting.length >= this.opts.queue) {
      const aheadPerThread = (this.running + this.waiting.length) / this.opts.concurrency;
      throw new LoginBusyError((aheadPerThread * this.averageMs) / 1000);
    }
    return new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Hands the thread slot straight to the next waiter, so `running` never over-counts. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.running -= 1;
  }

  /** Started on first use: a server that never hashes never pays for the threads. */
  private workers(): Piscina<DeriveTask, Uint8Array> {
    if (this.closed) throw new Error('password hashing stopped');
    this.pool ??= new Piscina<DeriveTask, Uint8Array>({
      // A plain .mjs beside this module, in src/ and in dist/ alike (see hash-worker.mjs).
      filename: new URL('./hash-worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.opts.concurrency,
      idleTimeout: this.opts.idleTimeoutMs ?? 30_000,
      // The thread keeps nothing between tasks; argon2's and scrypt's memory is native, not V8 heap.
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    });
    return this.pool;
  }
}
