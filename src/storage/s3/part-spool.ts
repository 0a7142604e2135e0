/**
 * Local scratch files for the parts the whole-file hash chain holds (part-chain.ts): a part
 * that streams to S3 before the part ahead of it has joined the chain is also appended to a
 * file here, and read back into the chain's hash once its turn comes. Held on disk instead of
 * in memory, ~3 parts of 8 MiB per 4-way parallel upload cost page cache, not the process's
 * RSS (they were 60–108 MB of it).
 *
 * One directory per store (`sl-s3-spool.<host>.<pid>.<random>`, 0700) under the given parent
 * (the server's UPLOAD_ROOT/.tmp, else the system's temporary folder), made on first use and
 * removed by close; those of processes of this machine that ended (a crash) go at start.
 *
 * Memory stays bounded: writes are queued while earlier ones run; past SPOOL_PAUSE queued the
 * part's body waits (SpoolPace) until the queue is back to SPOOL_RESUME, and a file whose
 * queue would still pass MAX_PENDING fails rather than buffering. Why wait rather than drop at
 * once: the first drop ends the chain for the rest of the upload (every later part is held to
 * no end and completion reads the whole object back, ~7 s per GiB), and a disk under
 * writeback pressure stalls a write for tens of ms now and then (the bench saw 4 MiB queued
 * behind such a stall in most uploads). A file
 * that failed, or reads back shorter or longer than what was appended, says so: the chain
 * then leaves the part out (never a wrong digest; completion reads the object back).
 */
import { randomBytes, type Hash } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { BufferPool } from '../../util/buffer-pool.js';
import { deadLocalWriter } from '../local-names.js';

const PREFIX = 'sl-s3-spool.';
/** Bytes a spool file may have queued for writing: past it the part is no longer held. */
export const MAX_PENDING = 4 * 1024 * 1024;
/** Queued bytes past which the part's body waits for the disk, and where it goes on again. */
export const SPOOL_PAUSE = 2 * 1024 * 1024;
const SPOOL_RESUME = 1024 * 1024;
/** The buffer a held part is read back through (one per join in progress, reused across parts). */
export const READ_BYTES = 1024 * 1024;

export class SpoolDir {
  /** This store's scratch directory (it exists once a part was held). */
  readonly dir: string;
  private made: Promise<void> | null = null;
  private seq = 0;
  private closed = false;

  constructor(private readonly parent: string) {
    this.dir = path.join(parent, `${PREFIX}${os.hostname()}.${process.pid}.${randomBytes(8).toString('hex')}`);
  }

  /** Removes the scratch directories of processes of this machine that ended; how many went. */
  async removeStale(): Promise<number> {
    const names = await fs.readdir(this.parent).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      // The owner is `<host>.<pid>.<random>`: the shape deadLocalWriter reads (a live pid stays).
      if (!name.startsWith(PREFIX) || !deadLocalWriter(name.slice(PREFIX.length))) continue;
      await fs.rm(path.join(this.parent, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** A new file to hold one part (`label` names it for whoever looks). */
  file(label: string): SpoolFile {
    const name = path.join(this.dir, `${label.replace(/[^A-Za-z0-9_-]/g, '_')}.${++this.seq}`);
    return new SpoolFile(this.closed ? Promise.reject(new Error('spool closed')) : this.ensure().then(() => fs.open(name, 'wx+', 0o600)), name);
  }

  /** Removes the directory and whatever is left in it; files asked for later fail. */
  async close(): Promise<void> {
    this.closed = true;
    // A directory that cannot be removed (its parent is gone or unusable) is a crash
    // leftover for the next start; closing the store does not fail for it.
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  private ensure(): Promise<void> {
    this.made ??= (async () => {
      await fs.mkdir(this.parent, { recursive: true });
      await fs.mkdir(this.dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    })().catch((err: unknown) => {
      this.made = null; // the next part tries again (the folder may be back)
      throw err;
    });
    return this.made;
  }
}

/**
 * Memory the spool writes from: a held chunk is copied into a slab at once, so the request's
 * own buffers die young (a scavenge frees them). Queued until their write ended, they lived
 * tens of ms, long enough to be promoted, and piled up in the old generation between full
 * collections: +30–60 MB of RSS during a 4-way upload. Slabs are reused across files.
 */
const SLAB = 256 * 1024;
/** Slabs kept for reuse between parts (≤ 16 MiB). */
const slabs = new BufferPool(64 * SLAB);
/** Read-back buffers (READ_BYTES), reused across joins for the same reason (≤ 4 idle). */
export const spoolReadBuffers = new BufferPool(4 * READ_BYTES);

interface Filled {
  slab: Buffer;
  length: number;
}

/** One held part's bytes on disk: appended as they stream, read back once into a hash. */
export class SpoolFile {
  private readonly handle: Promise<FileHandle | null>;
  /** Full slabs waiting for their write. */
  private queue: Filled[] = [];
  /** The slab being filled. */
  private current: Filled | null = null;
  /** Bytes copied in and not yet written. */
  private pending = 0;
  private written = 0;
  private writing: Promise<void> | null = null;
  private failed = false;
  private removed: Promise<void> | null = null;
  /** Waiting for the queue to go down to SPOOL_RESUME (or the file to fail). */
  private waiters: (() => void)[] = [];

  constructor(
    opened: Promise<FileHandle>,
    readonly path: string,
  ) {
    this.handle = opened.catch(() => {
      this.fail();
      return null;
    });
  }

  /**
   * Copies a chunk in; false once the file failed or its queue would pass MAX_PENDING (a
   * chunk bigger than that alone is taken when nothing waits).
   */
  append(chunk: Buffer): boolean {
    if (this.failed) return false;
    if (this.pending > 0 && this.pending + chunk.length > MAX_PENDING) {
      this.fail();
      return false;
    }
    for (let at = 0; at < chunk.length; ) {
      this.current ??= { slab: slabs.take(SLAB), length: 0 };
      const n = chunk.copy(this.current.slab, this.current.length, at);
      this.current.length += n;
      at += n;
      if (this.current.length === SLAB) this.seal();
    }
    this.pending += chunk.length;
    return true;
  }

  /** The body ended: what is left in memory goes to the disk too. */
  end(): void {
    if (this.current && !this.failed) this.seal();
  }

  /** Null while fewer than SPOOL_PAUSE bytes are queued; else resolves once the queue is down to SPOOL_RESUME or the file failed. */
  drained(): Promise<void> | null {
    if (this.failed || this.pending <= SPOOL_PAUSE) return null;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Feeds the file's bytes into `hash` through `buffer` (sequential reads), once every byte
   * appended is written (nothing is appended after). True only if exactly `expect` bytes were
   * written and read back.
   */
  async feed(hash: Hash, buffer: Buffer, expect: number): Promise<boolean> {
    this.end();
    while (this.writing) await this.writing;
    const fh = await this.handle;
    if (!fh || this.failed || this.written !== expect) return false;
    try {
      let at = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, expect + 1 - at), at);
        if (bytesRead === 0 || this.failed) break;
        hash.update(buffer.subarray(0, bytesRead));
        at += bytesRead;
        if (at > expect) return false;
      }
      return at === expect && !this.failed;
    } catch {
      return false;
    }
  }

  /** Stops writing, closes and deletes the file (errors ignored: the directory goes at close). */
  remove(): Promise<void> {
    this.fail();
    this.removed ??= (async () => {
      const fh = await this.handle;
      await fh?.close().catch(() => undefined);
      await fs.rm(this.path, { force: true }).catch(() => undefined);
    })();
    return this.removed;
  }

  /** The slab being filled goes to the queue, and the queue to the disk. */
  private seal(): void {
    this.queue.push(this.current!);
    this.current = null;
    this.writing ??= this.pump();
  }

  private fail(): void {
    this.failed = true;
    for (const f of this.queue) slabs.give(f.slab);
    if (this.current) slabs.give(this.current.slab);
    this.queue = [];
    this.current = null;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Writes the queue in batches (one writev each) until it is empty; the slabs go back once written. */
  private async pump(): Promise<void> {
    try {
      const fh = await this.handle;
      while (fh && !this.failed && this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          let bytes = 0;
          for (const f of batch) bytes += f.length;
          const { bytesWritten } = await fh.writev(
            batch.map((f) => f.slab.subarray(0, f.length)),
            this.written,
          );
          if (bytesWritten !== bytes) throw new Error('short write');
          this.written += bytes;
          this.pending -= bytes;
        } finally {
          for (const f of batch) slabs.give(f.slab);
        }
        if (this.pending <= SPOOL_RESUME) this.wake();
      }
    } catch {
      this.fail();
    } finally {
      this.writing = null;
    }
  }
}

/**
 * Between a held part's body and its upload: passes each chunk on at once, hands it to
 * `hold`, and takes the next one only once `backlog` (the spool's queue) allows; `ended` once
 * the body has.
 */
export class SpoolPace extends Transform {
  constructor(
    private readonly hold: (chunk: Buffer) => void,
    private readonly backlog: () => Promise<void> | null,
    private readonly ended: () => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _flush(callback: TransformCallback): void {
    this.ended();
    callback();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hold(chunk);
    this.push(chunk);
    const wait = this.backlog();
    if (wait) wait.then(() => callback(), callback);
    else callback();
  }
}
