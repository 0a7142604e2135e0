/**
 * Upload progress: bytes done, speed over the last few seconds, and the time left at that
 * speed. Bytes a resumed upload already had count as done, never as speed.
 */
export interface UploadProgress {
  uploadId: string;
  /** Bytes the server holds for this upload (parts confirmed, including those a resume found). */
  bytesUploaded: number;
  bytesTotal: number;
  partsDone: number;
  partCount: number;
  /** Bytes per second over the last few seconds of this call (0 until a part is done). */
  bytesPerSecond: number;
  /** Seconds left at that speed; null while the speed is unknown. */
  etaSeconds: number | null;
  /** 0–1. */
  fraction: number;
}

const WINDOW_MS = 5_000;

export class ProgressMeter {
  private samples: Array<{ at: number; sent: number }> = [];
  private sent = 0;
  private done: number;
  private parts: number;

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

  /** A part of `bytes` was confirmed by the server. */
  add(bytes: number): UploadProgress {
    this.sent += bytes;
    this.done += bytes;
    this.parts += 1;
    const at = this.now();
    this.samples.push({ at, sent: this.sent });
    // Keep one sample older than the window as the rate's starting point.
    while (this.samples.length > 2 && this.samples[1]!.at < at - WINDOW_MS) this.samples.shift();
    return this.snapshot();
  }

  snapshot(): UploadProgress {
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const ms = last.at - first.at;
    const rate = ms > 0 ? ((last.sent - first.sent) * 1000) / ms : 0;
    const left = this.total - this.done;
    return {
      uploadId: this.uploadId,
      bytesUploaded: this.done,
      bytesTotal: this.total,
      partsDone: this.parts,
      partCount: this.partCount,
      bytesPerSecond: rate,
      etaSeconds: left <= 0 ? 0 : rate > 0 ? left / rate : null,
      fraction: this.total === 0 ? 1 : this.done / this.total,
    };
  }
}
