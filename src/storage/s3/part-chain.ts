/**
 * The whole file's SHA-256, computed while the parts stream through this instance in order.
 * S3 cannot hash an object for us, and SHA-256 cannot be combined from the parts' digests,
 * so each part is also fed into a copy of the hash state that ended the part before it:
 * part n extends the chain when part n−1 finished here first. At completion the chain counts
 * only if every link is the very copy the record names (ref and digest) and each link grew
 * from the one before it; otherwise there is no digest (null) and the service reads the
 * object back once. Parts sent in parallel, to several instances, or across a restart break
 * the chain: that costs one read of the object, never a wrong digest.
 *
 * State is per instance and in memory: a hash state per part number for the latest copy
 * (~0.3 KB each; only the two newest keep their state, older links keep only their identity),
 * for at most MAX_UPLOADS uploads (the least recently written ones are forgotten first).
 */
import { createHash, type Hash } from 'node:crypto';
import type { PartRef } from '../blob-store.js';

interface Link {
  ref: string;
  sha256: string;
  /** The state after this part, while a later part may still need to extend it. */
  hash: Hash | null;
  /** The link this one grew from: null for part 1; undefined when it did not grow from one. */
  prev: Link | null | undefined;
}

/** Where a part's bytes extend the chain: the link it grows from and a copy of its state. */
export interface Fork {
  base: Link | null;
  hash: Hash;
}

const MAX_UPLOADS = 10_000;

export class PartChains {
  private readonly uploads = new Map<string, Map<number, Link>>();

  constructor(private readonly maxUploads = MAX_UPLOADS) {}

  /** The state part `n` extends, or null when part n−1 has not finished here (no chain). */
  fork(uploadId: string, n: number): Fork | null {
    if (n === 1) return { base: null, hash: createHash('sha256') };
    const base = this.uploads.get(uploadId)?.get(n - 1);
    return base?.hash ? { base, hash: base.hash.copy() } : null;
  }

  /** A copy of part `n` arrived whole (S3 holds it now): it becomes part n's link. */
  record(uploadId: string, n: number, part: { ref: string; sha256: string }, fork: Fork | null): void {
    let links = this.uploads.get(uploadId);
    if (links) this.uploads.delete(uploadId); // re-inserted: the newest at the end
    links ??= new Map();
    this.uploads.set(uploadId, links);
    const same = links.get(n);
    // The same bytes again (same digest): the chain through this part still holds.
    if (!(same && same.ref === part.ref && same.sha256 === part.sha256)) {
      links.set(n, { ref: part.ref, sha256: part.sha256, hash: fork?.hash ?? null, prev: fork ? fork.base : undefined });
    }
    // Only a re-sent part n−1 would still grow from part n−2's state: let it go (such a
    // re-send then breaks the chain, which costs one read, not a wrong digest).
    const old = links.get(n - 2);
    if (old) old.hash = null;
    while (this.uploads.size > this.maxUploads) this.uploads.delete(this.uploads.keys().next().value!);
  }

  /** The whole object's SHA-256 if the chain covers exactly these parts (1…N, in order), else null. */
  digest(uploadId: string, parts: PartRef[]): string | null {
    const links = this.uploads.get(uploadId);
    if (!links || parts.length === 0) return null;
    let prev: Link | null = null;
    for (const [i, p] of parts.entries()) {
      const link = links.get(p.partNumber);
      if (p.partNumber !== i + 1 || !link || link.ref !== p.ref || link.sha256 !== p.sha256 || link.prev !== prev) return null;
      prev = link;
    }
    return prev?.hash ? prev.hash.copy().digest('hex') : null;
  }

  forget(uploadId: string): void {
    this.uploads.delete(uploadId);
  }
}
