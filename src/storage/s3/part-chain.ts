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
 * State is per instance and in memory, O(1) per upload: the state after the last part of the
 * chain and after the one before (so that a re-sent last part can take its place), two
 * hashes each (< 1 KB), for at most MAX_UPLOADS uploads, the least recently written dropped.
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

const MAX_UPLOADS = 10_000;
const empty = (): State => ({ n: 0, bytes: createHash('sha256'), copies: createHash('sha256') });
const copyLine = (n: number, ref: string, sha256: string): string => `${n}:${ref}:${sha256};`;

export class PartChains {
  private readonly uploads = new Map<string, Chain>();

  constructor(private readonly maxUploads = MAX_UPLOADS) {}

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
  record(uploadId: string, n: number, part: { ref: string; sha256: string }, fork: Fork | null): void {
    const chain = this.uploads.get(uploadId);
    if (!chain || !fork) return; // a copy outside the chain: completion finds it does not match
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
  }

  private remember(uploadId: string, chain: Chain): void {
    this.uploads.delete(uploadId); // re-inserted: the most recently written last
    this.uploads.set(uploadId, chain);
    while (this.uploads.size > this.maxUploads) this.uploads.delete(this.uploads.keys().next().value!);
  }
}
