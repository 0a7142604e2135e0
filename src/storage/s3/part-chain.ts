/**
 * The whole file's SHA-256, computed while the parts stream through this instance in order.
 * S3 cannot hash an object for us, and SHA-256 cannot be combined from the parts' digests,
 * so each part is also fed into a copy of the hash state that ended the part before it:
 * part n extends the chain when part n−1 finished here first. Beside the bytes' hash the chain
 * hashes which copies it holds (part number, ETag, digest); at completion it counts only if
 * it covers exactly the parts the record names, with those very copies. Otherwise there is no
 * digest (null) and the service reads the object back once: parts sent in parallel, to
 * several instances or across a restart cost that read, never a wrong digest.
 *
 * Parts sent in parallel (part n starts before n−1 has ended) would never chain, so part n's
 * bytes are also appended to a local spool file (part-spool.ts) while they stream on to S3
 * (waiting only while the disk lags), and read back into the chain once n−1 has joined it
 * (`hold`). Joining is then asynchronous: `digest` waits for the joins in progress of its
 * upload. Held bytes are bounded per process (HOLD_BUDGET, on disk): past it, or when the
 * spool fails, stalls (SPOOL_STALL_MS) or reads back short, a part is held no more and
 * completion reads the object back as before. Never a wrong digest, never unbounded memory
 * (a spool file queues ~SPOOL_PAUSE bytes in memory, its body waiting meanwhile; never more
 * than MAX_PENDING).
 *
 * State is per instance and in memory, O(1) per upload: the state after the last part of the
 * chain and after the one before (so that a re-sent last part can take its place), two
 * hashes each (< 1 KB), for at most MAX_UPLOADS uploads, the least recently written dropped;
 * plus the held parts' spool files.
 */
import { createHash, type Hash } from 'node:crypto';
import type { PartRef } from '../blob-store.js';
import { READ_BYTES, spoolReadBuffers, type SpoolDir, type SpoolFile } from './part-spool.js';

/** After parts 1…n: the hash of their bytes and the hash of which copies they were. */
interface State {
  n: number;
  bytes: Hash;
  copies: Hash;
}

interface Chain {
  last: State;
  previous: State | null;
}

/** Where a part's bytes extend the chain: the state it grows from and a copy of its hash. */
export interface Fork {
  base: State;
  hash: Hash;
}

/** A part waiting on disk for the part before it to join the chain. */
export interface Held {
  uploadId: string;
  n: number;
  file: SpoolFile;
  bytes: number;
  /** Set once the copy arrived whole at S3. */
  done: { ref: string; sha256: string } | null;
  /** Over the budget, its spool failed, or its write failed: it will never join. */
  dropped: boolean;
  at: number;
}

export interface PartChainOptions {
  spool: SpoolDir;
  /** Bytes held on disk per process (HOLD_BUDGET). */
  budget?: number;
  maxUploads?: number;
}

const MAX_UPLOADS = 10_000;
/** Bytes held per process, on disk: 128 parts of 8 MiB (×4 in parallel holds ~3 at a time per upload). */
export const HOLD_BUDGET = 1024 * 1024 * 1024;
/** A spool that keeps its part's body waiting longer than this (a stalled disk) loses the part instead. */
const SPOOL_STALL_MS = 2_000;
/** A finished part held longer than this (its predecessor went to another instance) gives way to a new one. */
const HOLD_STALE_MS = 30_000;
const empty = (): State => ({ n: 0, bytes: createHash('sha256'), copies: createHash('sha256') });
const copyLine = (n: number, ref: string, sha256: string): string => `${n}:${ref}:${sha256};`;

export class PartChains {
  private readonly uploads = new Map<string, Chain>();
  private readonly held = new Map<string, Map<number, Held>>();
  /** The join in progress per upload (held parts read back into the chain, in order). */
  private readonly joins = new Map<string, Promise<void>>();
  private heldBytes = 0;
  private readonly spool: SpoolDir;
  private readonly budget: number;
  private readonly maxUploads: number;

  constructor(opts: PartChainOptions) {
    this.spool = opts.spool;
    this.budget = opts.budget ?? HOLD_BUDGET;
    this.maxUploads = opts.maxUploads ?? MAX_UPLOADS;
  }

  /** Bytes held now (for tests and metrics). */
  get holding(): number {
    return this.heldBytes;
  }

  /**
   * For part `n` that cannot fork (n−1 not joined yet): a place to hold its bytes, when this
   * instance is chaining the upload (part 1 began here) or may yet (part 1 has not begun here:
   * parallel parts reach the store in any order, and part 1 is often not the first to start);
   * null for a part the chain already covers. Held bytes of an upload whose part 1 went to
   * another instance give way within the budget (stale once done) or go with `forget`.
   * A re-sent part replaces the earlier held copy (and its spool file).
   */
  hold(uploadId: string, n: number): Held | null {
    const chain = this.uploads.get(uploadId);
    if (chain ? n <= chain.last.n : n < 2) return null;
    const parts = this.held.get(uploadId) ?? new Map<number, Held>();
    const earlier = parts.get(n);
    if (earlier) this.drop(earlier);
    const h: Held = { uploadId, n, file: this.spool.file(`${uploadId}.${n}`), bytes: 0, done: null, dropped: false, at: Date.now() };
    parts.set(n, h);
    this.held.set(uploadId, parts);
    return h;
  }

  /** Appends a chunk to a held part's spool, within the budget (stale finished parts give way first). */
  add(h: Held, chunk: Buffer): void {
    if (h.dropped) return;
    if (this.heldBytes + chunk.length > this.budget) this.evictStale();
    if (this.heldBytes + chunk.length > this.budget || !h.file.append(chunk)) return this.drop(h);
    h.bytes += chunk.length;
    this.heldBytes += chunk.length;
  }

  /**
   * While a held part's spool lags (SPOOL_PAUSE bytes queued), a promise to wait on before its
   * body goes on; a stall past SPOOL_STALL_MS drops the part instead (the body goes on).
   */
  backlog(h: Held): Promise<void> | null {
    const drained = h.dropped ? null : h.file.drained();
    if (!drained) return null;
    return new Promise((resolve) => {
      const stalled = setTimeout(() => {
        this.drop(h);
        resolve();
      }, SPOOL_STALL_MS);
      void drained.then(() => {
        clearTimeout(stalled);
        resolve();
      });
    });
  }

  /** Forgets a held part (its write failed, it is over the budget, it joined) and deletes its spool. */
  drop(h: Held): void {
    if (!h.dropped) {
      this.heldBytes -= h.bytes;
      void h.file.remove();
    }
    h.dropped = true;
    h.bytes = 0;
    const parts = this.held.get(h.uploadId);
    if (parts?.get(h.n) === h) parts.delete(h.n);
    if (parts?.size === 0) this.held.delete(h.uploadId);
  }

  /** The state part `n` extends, or null when part n−1 has not finished here (no chain). */
  fork(uploadId: string, n: number): Fork | null {
    let chain = this.uploads.get(uploadId);
    if (!chain && n === 1) {
      chain = { last: empty(), previous: null };
      this.remember(uploadId, chain);
    }
    const base = chain?.last.n === n - 1 ? chain.last : chain?.previous?.n === n - 1 ? chain.previous : null;
    return base ? { base, hash: base.bytes.copy() } : null;
  }

  /** A copy of part `n` arrived whole (S3 holds it now); with its fork it extends the chain. */
  record(uploadId: string, n: number, part: { ref: string; sha256: string }, fork: Fork | null, held: Held | null = null): void {
    if (held && !held.dropped) held.done = part;
    if (fork) this.extend(uploadId, n, part, fork);
    this.kick(uploadId);
  }

  /** The held part that joins next (arrived whole, right after the chain's last), if any. */
  private next(uploadId: string): { chain: Chain; h: Held } | null {
    const chain = this.uploads.get(uploadId);
    const h = chain ? this.held.get(uploadId)?.get(chain.last.n + 1) : undefined;
    return chain && h?.done ? { chain, h } : null;
  }

  /** Starts the upload's join unless one runs (it finds what arrived meanwhile) or none is due. */
  private kick(uploadId: string): void {
    if (this.joins.has(uploadId) || !this.next(uploadId)) return;
    this.joins.set(uploadId, this.join(uploadId));
  }

  /**
   * Reads held parts back into the chain, in order, while the next one is there. The first
   * step always awaits, so the entry `kick` sets is in place before `finally` removes it, and
   * the last check and the removal happen in one turn: a part recorded after it starts a join.
   */
  private async join(uploadId: string): Promise<void> {
    const buffer = spoolReadBuffers.take(READ_BYTES);
    try {
      for (let step = this.next(uploadId); step; step = this.next(uploadId)) {
        const { chain, h } = step;
        const base = chain.last;
        const hash = base.bytes.copy();
        const whole = await h.file.feed(hash, buffer, h.bytes).catch(() => false);
        const part = h.done!;
        // Replaced by a re-send meanwhile (that copy joins in its turn), or unreadable: the
        // chain ends before it and completion reads back.
        const replaced = h.dropped;
        this.drop(h);
        if (whole && !replaced) this.extend(uploadId, h.n, part, { base, hash });
        await h.file.remove();
      }
    } finally {
      this.joins.delete(uploadId);
      spoolReadBuffers.give(buffer);
    }
  }

  private evictStale(): void {
    const now = Date.now();
    for (const parts of [...this.held.values()]) for (const h of [...parts.values()]) if (h.done && now - h.at > HOLD_STALE_MS) this.drop(h);
  }

  private extend(uploadId: string, n: number, part: { ref: string; sha256: string }, fork: Fork): void {
    const chain = this.uploads.get(uploadId);
    if (!chain) return; // a copy outside the chain: completion finds it does not match
    const next: State = { n, bytes: fork.hash, copies: fork.base.copies.copy().update(copyLine(n, part.ref, part.sha256)) };
    if (fork.base === chain.last) this.remember(uploadId, { last: next, previous: chain.last });
    else if (fork.base === chain.previous) this.remember(uploadId, { last: next, previous: chain.previous });
  }

  /**
   * The whole object's SHA-256 if the chain holds exactly these copies (parts 1…N, in order),
   * else null; once the upload's joins in progress have ended (the last part's record may
   * have started one just before completion).
   */
  async digest(uploadId: string, parts: PartRef[]): Promise<string | null> {
    for (let j = this.joins.get(uploadId); j; j = this.joins.get(uploadId)) await j;
    const chain = this.uploads.get(uploadId);
    if (!chain || chain.last.n !== parts.length || !parts.every((p, i) => p.partNumber === i + 1)) return null;
    const named = createHash('sha256');
    for (const p of parts) named.update(copyLine(p.partNumber, p.ref, p.sha256));
    if (named.digest('hex') !== chain.last.copies.copy().digest('hex')) return null;
    return chain.last.bytes.copy().digest('hex');
  }

  /** Forgets the upload's chain and held parts; resolves once their spool files are deleted. */
  async forget(uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
    const held = [...(this.held.get(uploadId)?.values() ?? [])];
    for (const h of held) this.drop(h);
    await Promise.all(held.map((h) => h.file.remove()));
  }

  /** Removes the spool directories of processes of this machine that ended (start-up). */
  async removeStaleSpools(): Promise<number> {
    return this.spool.removeStale().catch(() => 0); // leftovers only cost disk: never stops a start
  }

  /** Drops every held part, waits for the joins, removes the spool directory. */
  async close(): Promise<void> {
    for (const parts of [...this.held.values()]) for (const h of [...parts.values()]) this.drop(h);
    await Promise.all([...this.joins.values()]);
    await this.spool.close();
  }

  private remember(uploadId: string, chain: Chain): void {
    this.uploads.delete(uploadId); // re-inserted: the most recently written last
    this.uploads.set(uploadId, chain);
    while (this.uploads.size > this.maxUploads) this.uploads.delete(this.uploads.keys().next().value!);
  }
}
