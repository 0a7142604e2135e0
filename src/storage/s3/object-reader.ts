/**
 * The S3 store's BlobReader: positional reads into the caller's buffers, served by ranged GETs
 * of at most `segmentBytes` each, in turn; the next segment's GET is sent as soon as the current
 * one starts (its body waits in the socket until its turn). Reads that follow each other are
 * served from the GETs already open; a read elsewhere (a FileSource that let a stalled
 * read-ahead go, a reader used past the range it was opened for) opens GETs from there.
 *
 * Why ranges: a GET of a whole object (or a range covering it) is the most expensive way to read
 * it on some S3 servers. Swift's s3api, the CI server, verifies the MD5 of every object (and of
 * every segment of an object uploaded in parts) it sends whole: a 1 GiB object uploaded in one
 * part cost Swift 4.6–5.2 CPU seconds as one GET, 1.7–2.0 s as 64 MiB ranges, and a lone reader
 * went from 290–320 to 460–560 MB/s. Smaller ranges cost more again (16 MiB: 2.6–2.9 s), from
 * each request's own overhead. AWS advises ranged GETs for large objects as well.
 *
 * Objects are never rewritten in place (every upload gets a name of its own), so the segments
 * of one read all come from the same bytes. Each segment must bring exactly its length: a short
 * one, or a missing one (the object deleted meanwhile), fails the read, never a short body.
 */
import type { Readable } from 'node:stream';
import type { BlobReader } from '../blob-store.js';
import { BodyTap } from './body-tap.js';

export interface ByteSpan {
  start: number;
  end: number; // inclusive
}

/** Opens the body of one range of the object (null: the range starts past its end). */
export type RangeGet = (range: ByteSpan) => Promise<Readable | null>;

/** The last byte of the segment that starts at `start`, for a read that stops at `end`. */
export function segmentEnd(start: number, end: number, segmentBytes: number): number {
  return Math.min(end, start + segmentBytes - 1);
}

/** The segment being read, and where this run of segments stops. */
interface Run {
  tap: BodyTap;
  range: ByteSpan;
  /** Last byte this run reads (the span's end, or the object's). */
  stop: number;
  /** The next segment, and its GET sent when this one started (null: this is the run's last). */
  following: { range: ByteSpan; body: Promise<Readable | null> } | null;
}

export class S3ObjectReader implements BlobReader {
  private run: Run | null = null;
  /** Position of the next byte the open run gives. */
  private at = 0;
  private closed = false;
  /** Reads run one at a time, in the order asked. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param size   the object's size
   * @param span   the bytes the caller said it will read (reads outside it open their own GETs)
   * @param first  the body of the first segment of `span`, already open (null: none)
   */
  constructor(
    private readonly size: number,
    private readonly span: ByteSpan,
    first: { body: Readable; range: ByteSpan } | null,
    private readonly get: RangeGet,
    private readonly segmentBytes: number,
  ) {
    if (first) this.begin(first.body, first.range, span.end);
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const result = this.queue.then(() => this.readNow(buffer, offset, length, position));
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.drop();
    }
    return this.queue.then(() => undefined);
  }

  private begin(body: Readable, range: ByteSpan, stop: number): void {
    let following: Run['following'] = null;
    if (range.end < stop) {
      const next = { start: range.end + 1, end: segmentEnd(range.end + 1, stop, this.segmentBytes) };
      following = { range: next, body: this.get(next) };
      following.body.catch(() => undefined); // awaited at its turn, or dropped
    }
    this.run = { tap: new BodyTap(body), range, stop, following };
    this.at = range.start;
  }

  /** A body fetched while the reader may have been closed: released then, and the read fails. */
  private stillOpen(body: Readable | null): void {
    if (!this.closed) return;
    body?.destroy();
    throw new Error('read after close');
  }

  private drop(): void {
    const run = this.run;
    this.run = null;
    if (!run) return;
    run.tap.close();
    // A GET sent ahead and never read: its socket is released, not left waiting.
    if (run.following) void run.following.body.then((b) => b?.destroy(), () => undefined);
  }

  private async readNow(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (this.closed) throw new Error('read after close');
    if (this.run && this.at !== position) this.drop();
    this.at = position;
    let n = 0;
    let retried = false;
    while (n < length) {
      if (!this.run && (n > 0 || !(await this.openAt(this.at)))) break;
      const run = this.run!;
      let k: number;
      try {
        k = await run.tap.fill(buffer, offset + n, length - n);
      } catch (err) {
        // The connection failed (an idle timeout while a slow client read, a reset): once per
        // read, GETs from the next byte owed; a second failure, or an object gone, fails it.
        if (retried || this.closed) throw err;
        retried = true;
        this.drop();
        if (!(await this.openAt(this.at))) throw err;
        continue;
      }
      if (this.closed) throw new Error('read after close');
      n += k;
      this.at += k;
      if (k > 0) continue;
      // This segment's body has ended: exactly its length, or the read fails.
      const want = run.range.end - run.range.start + 1;
      if (run.tap.received !== want) throw new Error(`bytes ${run.range.start}-${run.range.end} of the object came back ${run.tap.received} bytes long`);
      run.tap.close();
      this.run = null;
      if (!run.following) continue; // the run's end: on from here with GETs of its own, if asked for more
      const { range } = run.following;
      let body = await run.following.body.catch(() => undefined);
      if (body && (body.destroyed || body.errored)) body = undefined;
      // Sent ahead and lost while this segment drained (its idle timeout, for a slow client): again.
      if (body === undefined) body = await this.get(range);
      this.stillOpen(body);
      if (body === null) throw new Error(`the object ends before byte ${range.start}`);
      this.begin(body, range, run.stop);
    }
    return n;
  }

  /** Opens GETs from `position`: within the span the caller announced up to its end, elsewhere up to the object's. */
  private async openAt(position: number): Promise<boolean> {
    if (position >= this.size) return false;
    const stop = position >= this.span.start && position <= this.span.end ? this.span.end : this.size - 1;
    const range = { start: position, end: segmentEnd(position, stop, this.segmentBytes) };
    const body = await this.get(range);
    this.stillOpen(body);
    if (body === null) return false;
    this.begin(body, range, stop);
    return true;
  }
}
