/**
 * A byte range of an open object (a BlobReader: a file on disk, ranged GETs on S3) as a
 * Readable whose memory stays small when its reader stalls (a reader that stops reading holds
 * ≤ 256 KiB of our buffers).
 *
 * fs.createReadStream reads ahead up to its highWaterMark whatever the consumer does: with the
 * 1 MiB buffers that downloads need for speed, a client that stops reading pinned ~2 MiB (one
 * chunk in the socket, one read ahead) until the idle timeout. Here:
 *  - the size of every read comes from a ReadPacer (small until the reader proves fast);
 *  - nothing sits in the Readable's own buffer (highWaterMark 0): a chunk is read when asked for,
 *    or read ahead (fast readers only) into a slot of our own, which is dropped after STALL_MS
 *    without demand and read again from the file when the reader comes back.
 * Piped straight into a Writable (the response), it paces itself by that Writable's drains.
 */
import { Readable, type Writable } from 'node:stream';
import type { BlobReader } from './blob-store.js';
import { SinkPacer, type ReadPacer } from './read-pacer.js';
import type { RecycledReadBuffers } from './read-buffers.js';

/** A chunk read ahead but not asked for within this long is let go (read again later). */
const STALL_MS = 500;

export interface FileSourceOptions {
  /** Inclusive byte range; `end < start` is an empty body. */
  start: number;
  end: number;
  /** Default: paced by the Writable this stream is piped into (fixed minimum until then). */
  pacer?: ReadPacer;
  /** Where read buffers come from (default: a new one per read). */
  buffers?: RecycledReadBuffers;
}

interface Slot {
  chunk: Buffer;
  granted: number;
}

export class FileSource extends Readable {
  private pos: number;
  private readonly end: number;
  private readonly pacer: ReadPacer;
  private readonly sinkPacer: SinkPacer | null;
  private reading = false;
  /** The consumer asked for a chunk we have not given yet. */
  private wanted = false;
  private ready: Slot | null = null;
  /** Budget grants of chunks pushed downstream and not yet known to be written out. */
  private outstanding = 0;
  private stallTimer: NodeJS.Timeout | null = null;
  private readonly buffers: RecycledReadBuffers | null;

  constructor(
    private readonly reader: BlobReader,
    opts: FileSourceOptions,
  ) {
    super({ highWaterMark: 0 });
    this.pos = opts.start;
    this.end = opts.end;
    this.buffers = opts.buffers ?? null;
    this.sinkPacer = opts.pacer ? null : new SinkPacer();
    this.pacer = opts.pacer ?? this.sinkPacer!;
  }

  /** The pacer learns the consumer's speed from the Writable we are piped into. */
  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.sinkPacer?.attach(destination as unknown as Writable);
    return super.pipe(destination, options);
  }

  override _read(): void {
    // Asked for more: whatever we pushed before has been taken by the consumer.
    this.releaseOutstanding();
    this.wanted = true;
    const slot = this.ready;
    if (slot) {
      this.ready = null;
      this.deliver(slot);
    } else if (this.pos > this.end && !this.reading) {
      this.push(null);
      return;
    }
    this.fill();
  }

  private deliver(slot: Slot): void {
    this.wanted = false;
    this.outstanding += slot.granted;
    this.pacer.pushed(slot.chunk.length);
    this.push(slot.chunk);
    if (this.pos > this.end && !this.reading && !this.destroyed) this.push(null);
  }

  /** Starts the next read when it is wanted, or ahead of demand for a fast consumer. */
  private fill(): void {
    if (this.reading || this.ready || this.destroyed || this.pos > this.end) return;
    if (!this.wanted && !this.pacer.readAhead()) return;
    const grant = this.pacer.nextChunk();
    const size = Math.min(grant.size, this.end - this.pos + 1);
    const buf = this.buffers ? this.buffers.take(size) : Buffer.allocUnsafe(size);
    this.reading = true;
    this.reader.read(buf, 0, size, this.pos).then(
      (bytesRead) => {
        this.reading = false;
        if (this.destroyed) return this.pacer.release(grant.granted);
        if (bytesRead === 0) {
          // The object is shorter than its record: end here, as fs.createReadStream does.
          this.pacer.release(grant.granted);
          this.pos = this.end + 1;
          if (this.wanted) this.push(null);
          return;
        }
        this.pos += bytesRead;
        const slot = { chunk: bytesRead === size ? buf : buf.subarray(0, bytesRead), granted: grant.granted };
        if (this.wanted) {
          this.deliver(slot);
          this.fill();
        } else {
          this.ready = slot;
          this.armStallTimer();
        }
      },
      (err: Error) => {
        this.reading = false;
        this.pacer.release(grant.granted);
        this.destroy(err);
      },
    );
  }

  private armStallTimer(): void {
    if (this.stallTimer) this.stallTimer.refresh();
    else {
      this.stallTimer = setTimeout(() => this.dropReady(), STALL_MS);
      this.stallTimer.unref();
    }
  }

  /** The consumer stopped: let the read-ahead chunk go; it is read again when asked for. */
  private dropReady(): void {
    const slot = this.ready;
    if (!slot) return;
    this.ready = null;
    this.pos -= slot.chunk.length;
    this.pacer.release(slot.granted);
  }

  private releaseOutstanding(): void {
    if (this.outstanding > 0) this.pacer.release(this.outstanding);
    this.outstanding = 0;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.releaseOutstanding();
    if (this.ready) this.pacer.release(this.ready.granted);
    this.ready = null;
    // close() waits for a read still in flight (a file's descriptor is never reused under it).
    this.reader.close().then(
      () => callback(err),
      (closeErr: Error) => callback(err ?? closeErr),
    );
  }
}

