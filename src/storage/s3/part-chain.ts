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
 * bytes are also held in memory while they stream on to S3 at full speed, and fed into the
 * chain once n−1 has joined it (`hold`). Held bytes are bounded per process (HOLD_BUDGET):
 * past it a part is held no more, and completion reads the object back as before. Never a
 * wrong digest, never unbounded memory.
 *
 * State is per instance and in memory, O(1) per upload: the state after the last part of the
 * chain and after the one before (so that a re-sent last part can take its place), two
 * hashes each (< 1 KB), for at most MAX_UPLOADS uploads, the least recently written dropped;
 * plus the held bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import type { PartRef } from '../blob-store.js';

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

/** A part waiting in memory for the part before it to join the chain. */
export interface Held {
  uploadId: string;
  n: number;
  chunks: Buffer[];
  bytes: number;
  /** Set once the copy arrived whole at S3. */
  done: { ref: string; sha256: string } | null;
  /** Over the budget, or its write failed: it will never join. */
  dropped: boolean;
  at: number;
}

const MAX_UPLOADS = 10_000;
/** Bytes held per process: 8 parts of 8 MiB (×4 in parallel holds ~3 at a time). */
export const HOLD_BUDGET = 64 * 1024 * 1024;
/** A finished part held longer than this (its predecessor went to another instance) gives way to a new one. */
const HOLD_STALE_MS = 30_000;
const empty = (): State => ({ n: 0, bytes: createHash('sha256'), copies: createHash('sha256') });
const copyLine = (n: number, ref: string, sha256: string): string => `${n}:${ref}:${sha256};`;

export class PartChains {
  private readonly uploads = new Map<string, Chain>();
  private readonly held = new Map<string, Map<number, Held>>();
  private heldBytes = 0;

  constructor(
    private readonly maxUploads = MAX_UPLOADS,
    private readonly budget = HOLD_BUDGET,
  ) {}

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
   */
  hold(uploadId: string, n: number): Held | null {
    const chain = this.uploads.get(uploadId);
    if (chain ? n <= chain.last.n : n < 2) return null;
    const parts = this.held.get(uploadId) ?? new Map<number, Held>();
    const earlier = parts.get(n);
    if (earlier) this.drop(earlier);
    const h: Held = { uploadId, n, chunks: [], bytes: 0, done: null, dropped: false, at: Date.now() };
    parts.set(n, h);
    this.held.set(uploadId, parts);
    return h;
  }

  /** Adds a chunk to a held part, within the budget (stale finished parts give way first). */
  add(h: Held, chunk: Buffer): void {
    if (h.dropped) return;
    if (this.heldBytes + chunk.length > this.budget) this.evictStale();
    if (this.heldBytes + chunk.length > this.budget) return this.drop(h);
    h.chunks.push(chunk);
    h.bytes += chunk.length;
    this.heldBytes += chunk.length;
  }

  /** Forgets a held part (its write failed, or it is over the budget). */
  drop(h: Held): void {
    if (!h.dropped) this.heldBytes -= h.bytes;
    h.dropped = true;
    h.chunks = [];
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
    this.joinHeld(uploadId);
  }

  /** Feeds held parts that arrived whole into the chain, in order, while the next one is there. */
  private joinHeld(uploadId: string): void {
    for (;;) {
      const chain = this.uploads.get(uploadId);
      const h = chain ? this.held.get(uploadId)?.get(chain.last.n + 1) : undefined;
      if (!chain || !h?.done) return;
      const hash = chain.last.bytes.copy();
      for (const c of h.chunks) hash.update(c);
      const part = h.done;
      this.drop(h);
      this.extend(uploadId, h.n, part, { base: chain.last, hash });
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

  /** The whole object's SHA-256 if the chain holds exactly these copies (parts 1…N, in order), else null. */
  digest(uploadId: string, parts: PartRef[]): string | null {
    const chain = this.uploads.get(uploadId);
    if (!chain || chain.last.n !== parts.length || !parts.every((p, i) => p.partNumber === i + 1)) return null;
    const named = createHash('sha256');
    for (const p of parts) named.update(copyLine(p.partNumber, p.ref, p.sha256));
    if (named.digest('hex') !== chain.last.copies.copy().digest('hex')) return null;
    return chain.last.bytes.copy().digest('hex');
  }

  forget(uploadId: string): void {
    this.uploads.delete(uploadId);
    for (const h of [...(this.held.get(uploadId)?.values() ?? [])]) this.drop(h);
  }

  private remember(uploadId: string, chain: Chain): void {
    this.uploads.delete(uploadId); // re-inserted: the most recently written last
    this.uploads.set(uploadId, chain);
    while (this.uploads.size > this.maxUploads) this.uploads.delete(this.uploads.keys().next().value!);
  }
}
