/**
 * The whole file's SHA-256 on disk, advanced in the background as parts are acknowledged, so a
 * completion has (almost) nothing left to hash. SHA-256 cannot be combined from the parts'
 * digests, so the chain reads each part back once it is durable — from the page cache, where
 * it was just written — in order: part n joins once parts 1…n−1 have. Parts acknowledged out of
 * order (sent in parallel) wait as a few numbers (where their bytes are), never as bytes: one
 * 1 MiB read buffer per store, so memory stays flat whatever the upload's size.
 *
 * Beside the bytes' hash the chain hashes which copies it holds (part number, ref, digest);
 * at completion it counts for the longest prefix of the parts the record names with those
 * very copies, and the rest is read and hashed then. Parts sent to another instance, re-sent,
 * or a restart cost that read, never a wrong digest. Per instance and in memory: many
 * instances may share one disk, each with its own chains.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs/promises';
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

interface Chain {
  /** Parts 1…n are hashed. */
  n: number;
  bytes: Hash;
  copies: Hash;
  pending: Map<number, Acknowledged>;
  /** Completions waiting until nothing more can join. */
  waiters: (() => void)[];
}

const MAX_UPLOADS = 10_000;
/** Acknowledged parts waiting for their turn, over all uploads (each a few hundred bytes). */
const MAX_PENDING = 100_000;
const READ_BUFFER = 1024 * 1024;
const copyLine = (n: number, ref: string, sha256: string): string => `${n}:${ref}:${sha256};`;

export class DigestChains {
  private readonly chains = new Map<string, Chain>();
  private readonly runnable = new Set<string>();
  private pendingCount = 0;
  private running = false;
  /** The upload whose part is being hashed right now. */
  private current: string | null = null;
  private buffer: Buffer | null = null;

  constructor(private readonly maxUploads = MAX_UPLOADS) {}

  /** A copy of part `n` is durable: it joins the chain when its turn comes. */
  acknowledged(uploadId: string, ack: Acknowledged): void {
    let chain = this.chains.get(uploadId);
    if (!chain) {
      chain = { n: 0, bytes: createHash('sha256'), copies: createHash('sha256'), pending: new Map(), waiters: [] };
      this.remember(uploadId, chain);
    }
    if (ack.n <= chain.n) return; // hashed with an earlier copy: completion tells whether it counts
    if (!chain.pending.has(ack.n)) {
      if (this.pendingCount >= MAX_PENDING) return; // not chained: completion reads it
      this.pendingCount++;
    }
    chain.pending.set(ack.n, ack);
    if (ack.n === chain.n + 1) {
      this.runnable.add(uploadId);
      void this.run();
    }
  }

  /** Resolves once nothing acknowledged so far can join the upload's chain any more. */
  settled(uploadId: string): Promise<void> {
    const chain = this.chains.get(uploadId);
    if (!chain || (!this.runnable.has(uploadId) && this.current !== uploadId)) return Promise.resolve();
    return new Promise((resolve) => chain.waiters.push(resolve));
  }

  /**
   * The hash after the longest prefix of `parts` (parts 1…k, in order) the chain holds with
   * exactly these copies: {k, hash}; k = 0 with a fresh hash when it holds none of them.
   */
  prefix(uploadId: string, parts: PartRef[]): { k: number; hash: Hash } {
    const chain = this.chains.get(uploadId);
    const none = { k: 0, hash: createHash('sha256') };
    if (!chain || chain.n === 0 || chain.n > parts.length) return none;
    const named = createHash('sha256');
    for (let i = 0; i < chain.n; i++) {
      const p = parts[i]!;
      if (p.partNumber !== i + 1) return none;
      named.update(copyLine(p.partNumber, p.ref, p.sha256));
    }
    if (named.digest('hex') !== chain.copies.copy().digest('hex')) return none;
    return { k: chain.n, hash: chain.bytes.copy() };
  }

  forget(uploadId: string): void {
    const chain = this.chains.get(uploadId);
    if (!chain) return;
    this.pendingCount -= chain.pending.size;
    this.chains.delete(uploadId);
    this.runnable.delete(uploadId);
    for (const w of chain.waiters.splice(0)) w();
  }

  /** One runner per store: a part at a time, round-robin over the uploads with a next part. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const uploadId = this.runnable.values().next().value;
        if (uploadId === undefined) break;
        this.runnable.delete(uploadId);
        const chain = this.chains.get(uploadId);
        const next = chain?.pending.get(chain.n + 1);
        if (!chain || !next) continue;
        this.current = uploadId;
        const joined = await this.hashInto(chain, next).then(
          () => true,
          () => false,
        );
        this.current = null;
        if (this.chains.get(uploadId) !== chain) continue; // forgotten meanwhile
        chain.pending.delete(next.n);
        this.pendingCount--;
        if (!joined) {
          this.forget(uploadId); // its bytes went (discarded): completion reads instead
          continue;
        }
        if (chain.pending.has(chain.n + 1)) this.runnable.add(uploadId);
        else for (const w of chain.waiters.splice(0)) w();
      }
    } finally {
      this.running = false;
      this.current = null;
    }
  }

  private async hashInto(chain: Chain, part: Acknowledged): Promise<void> {
    const buf = (this.buffer ??= Buffer.allocUnsafeSlow(READ_BUFFER));
    const hash = chain.bytes.copy();
    const fh = await fs.open(part.file, 'r');
    try {
      let done = 0;
      while (done < part.size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, part.size - done), part.start + done);
        if (bytesRead === 0) throw new Error('the copy is shorter than acknowledged');
        hash.update(buf.subarray(0, bytesRead));
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
    chain.bytes = hash;
    chain.copies.update(copyLine(part.n, part.ref, part.sha256));
    chain.n = part.n;
  }

  private remember(uploadId: string, chain: Chain): void {
    this.chains.set(uploadId, chain);
    while (this.chains.size > this.maxUploads) this.forget(this.chains.keys().next().value!);
  }
}
