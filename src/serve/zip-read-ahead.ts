/**
 * The ZIP's entries opened a little ahead of the one being written: while entry n drains,
 * the records and byte streams of entries n+1 … n+depth are already open. On S3 every entry
 * otherwise waits a GetObject's round trip (first byte) after the previous one drained.
 *
 * Bounded: an opened stream is not read until its entry's turn, so it holds at most its own
 * buffer (a file handle on disk, the response's highWaterMark and the socket on S3), and
 * `depth` such streams at most. close() destroys every stream opened and not yet finished,
 * and any opened later by a look-up still in flight, so a client that goes away or an entry
 * that fails leaves no socket or file handle behind (the S3 client's pool is finite).
 *
 * Behaviour as without read-ahead: entries in order; a record deleted, or bytes gone, by the
 * time of the look-up are left out. A read-ahead that fails in any other way, or a stream that
 * breaks while it waits (an idle S3 connection dropped during a slow download), is not an
 * error yet: the entry is looked up and read again at its turn, where a failure counts as it
 * always did.
 */
import type { Readable } from 'node:stream';
import type { FileRecord } from '../db/types.js';
import type { BlobStore, ReadOptions } from '../storage/blob-store.js';
import { BlobNotFound } from '../errors/index.js';

export interface EntrySources {
  /** The current record for a key (or a file id), or null when it was deleted. */
  lookup(key: string): Promise<FileRecord | null>;
  blobs: Pick<BlobStore, 'read'>;
}

/** An entry ready to write, or one to leave out (`source` null: record deleted or bytes gone). */
export interface OpenedEntry {
  file: FileRecord | null;
  source: Readable | null;
}

/** Entries opened ahead (beyond the one being written). Two hide a GetObject's latency even for small files. */
export const DEFAULT_READ_AHEAD = 2;

interface Ahead {
  key: string;
  /** Opened ahead: null when that failed (redone at the entry's turn). At its turn: rejects as the look-up or read did. */
  opened: Promise<OpenedEntry | null>;
}

export class EntryReadAhead {
  private readonly queue: Ahead[] = [];
  private next = 0;
  /** Every stream opened and not yet closed: what close() destroys. */
  private readonly live = new Set<Readable>();
  private closed = false;

  constructor(
    private readonly keys: readonly string[],
    private readonly sources: EntrySources,
    private readonly readOptions: ReadOptions,
    private readonly depth = DEFAULT_READ_AHEAD,
  ) {}

  /** Streams opened and not yet closed (tests, the log). */
  get openStreams(): number {
    return this.live.size;
  }

  /**
   * The next entry, in key order, or undefined after the last (or once closed). The stream it
   * returns is the caller's to consume and to handle errors of (it stays tracked until it
   * closes). Throws what a look-up or read made at this entry's turn throws.
   */
  async take(): Promise<OpenedEntry | undefined> {
    if (this.closed) return undefined;
    // Empty only before the first entry (or always, with depth 0): that one is opened at its turn.
    const head = this.queue.shift() ?? this.atTurn();
    if (!head) return undefined;
    while (this.queue.length < this.depth && this.next < this.keys.length) this.queue.push(this.ahead(this.keys[this.next++]!));
    let entry = await head.opened;
    // Failed ahead, or broke while it waited (destroyed, nothing read it): opened again now.
    if (!entry || entry.source?.destroyed) entry = await this.open(head.key, true);
    if (this.closed) {
      entry.source?.destroy();
      return undefined;
    }
    return entry;
  }

  /** Destroys every stream opened and not finished, and any a look-up still in flight opens. Safe to call twice. */
  close(): void {
    this.closed = true;
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  private atTurn(): Ahead | undefined {
    if (this.next >= this.keys.length) return undefined;
    const key = this.keys[this.next++]!;
    const opened = this.open(key, true);
    opened.catch(() => undefined); // awaited by take(), which throws it; not unhandled meanwhile
    return { key, opened };
  }

  private ahead(key: string): Ahead {
    // A failed read-ahead settles as null: the entry is opened again at its turn.
    return { key, opened: this.open(key, false).catch(() => null) };
  }

  private async open(key: string, atTurn: boolean): Promise<OpenedEntry> {
    const file = await this.sources.lookup(key);
    if (!file || this.closed) return { file, source: null };
    let source: Readable;
    try {
      source = await this.sources.blobs.read(file.key, undefined, this.readOptions); // `key` may be an id: the record names the bytes
    } catch (err) {
      if (err instanceof BlobNotFound) return { file, source: null }; // gone since its record was read: left out
      throw err;
    }
    if (this.closed) {
      source.destroy();
      return { file, source: null };
    }
    this.live.add(source);
    source.once('close', () => this.live.delete(source));
    // A stream that breaks while it waits is opened again at its turn (take sees it destroyed);
    // the listener stays for the stream's life, as removing it at the hand-over could leave an
    // error emitted in between with no listener, which would end the process.
    if (!atTurn) source.on('error', () => undefined);
    return { file, source };
  }
}
