/**
 * Upload progress: bytes done, speed over the last few seconds, and the time left at that
 * speed. Bytes a resumed upload already had count as done, never as speed. Where the runtime
 * streams request bodies (Node, Deno, Bun), bytes handed to the connection count as they go,
 * so progress moves within a part; a part sent again starts its count over.
 */
export interface UploadProgress {
  uploadId: string;
  /** Bytes confirmed by the server (including those a resume found) plus bytes of parts on their way. */
  bytesUploaded: number;
  bytesTotal: number;
  /** Parts the server confirmed. */
  partsDone: number;
  partCount: number;
  /** Bytes per second over the last few seconds of this call (0 until bytes have gone). */
  bytesPerSecond: number;
  /** Seconds left at that speed; null while the speed is unknown. */
  etaSeconds: number | null;
  /** 0–1. */
  fraction: number;
}

const WINDOW_MS = 5_000;

export class ProgressMeter {
  private samples: Array<{ at: number; sent: number }> = [];
  /** Bytes sent by this call, counting every try (the speed's measure). */
  private sent = 0;
  /** Bytes of confirmed parts. */
  private done: number;
  private parts: number;
  /** Part number → bytes of its current try handed over so far. */
  private inFlight = new Map<number, number>();

  constructor(
    private readonly uploadId: string,
    private readonly total: number,
    private readonly partCount: number,
    already: { bytes: number; parts: number },
    private readonly now: () => number = () => Date.now(),
  ) {
    this.done = already.bytes;
    this.parts = already.parts;
    this.samples.push({ at: this.now(), sent: 0 });
  }

  /** `bytes` more of part `n` were handed to the connection; `restart` when a new try begins. */
  sending(n: number, bytes: number, restart = false): UploadProgress {
    this.inFlight.set(n, (restart ? 0 : (this.inFlight.get(n) ?? 0)) + bytes);
    this.sample(bytes);
    return this.snapshot();
  }

  /** Part `n` of `bytes` was confirmed by the server; `counted` of them were reported by sending(). */
  add(bytes: number, n = -1): UploadProgress {
    const counted = this.inFlight.get(n) ?? 0;
    this.inFlight.delete(n);
    this.done += bytes;
    this.parts += 1;
    this.sample(Math.max(0, bytes - counted));
    return this.snapshot();
  }

  snapshot(): UploadProgress {
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const ms = last.at - first.at;
    const rate = ms > 0 ? ((last.sent - first.sent) * 1000) / ms : 0;
    let uploaded = this.done;
    for (const b of this.inFlight.values()) uploaded += b;
    uploaded = Math.min(uploaded, this.total);
    const left = this.total - uploaded;
    return {
      uploadId: this.uploadId,
      bytesUploaded: uploaded,
      bytesTotal: this.total,
      partsDone: this.parts,
      partCount: this.partCount,
      bytesPerSecond: rate,
      etaSeconds: left <= 0 ? 0 : rate > 0 ? left / rate : null,
      fraction: this.total === 0 ? 1 : uploaded / this.total,
    };
  }

  private sample(bytes: number): void {
    this.sent += bytes;
    const at = this.now();
    this.samples.push({ at, sent: this.sent });
    // Keep one sample older than the window as the rate's starting point.
    while (this.samples.length > 2 && this.samples[1]!.at < at - WINDOW_MS) this.samples.shift();
  }
}
