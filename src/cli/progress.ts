/**
 * Progress bars (cli-progress) on stderr: one bar per file in flight and one for the total,
 * each with bytes, speed and time left. With --json or when stderr is not a terminal there are
 * no bars and nothing is written here: the command's result says what was done.
 */
import cliProgress from 'cli-progress';
import { formatBytes, formatDuration, type Output } from './output.js';

/** Bytes per second over the last few seconds, so a stall shows as a falling speed at once. */
export class RateMeter {
  private samples: Array<[number, number]> = [];
  constructor(private readonly windowMs = 5000) {}

  add(total: number, now = Date.now()): void {
    this.samples.push([now, total]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > this.windowMs) this.samples.shift();
  }

  bytesPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last[0] === first[0]) return 0;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }
}

export interface FileBar {
  /** Bytes of this file done so far (absolute, not a delta). */
  update(done: number): void;
  /** The file is finished (or failed): its bar goes, a line may stay. */
  finish(line?: string): void;
}

const NAME_WIDTH = 28;

function shortName(name: string): string {
  const chars = [...name];
  return chars.length <= NAME_WIDTH ? name.padEnd(NAME_WIDTH) : `…${chars.slice(-(NAME_WIDTH - 1)).join('')}`;
}

function payload(name: string, done: number, total: number, meter: RateMeter): Record<string, string> {
  const speed = meter.bytesPerSecond();
  return {
    name: shortName(name),
    done: formatBytes(done),
    size: formatBytes(total),
    speed: `${formatBytes(Math.round(speed))}/s`,
    left: done >= total ? '0s' : formatDuration(speed > 0 ? (total - done) / speed : Infinity),
  };
}

export class Progress {
  private readonly multibar: cliProgress.MultiBar | undefined;
  private readonly totalBar: cliProgress.SingleBar | undefined;
  private readonly totalMeter = new RateMeter();
  /** Files in flight: bytes done so far, and how to redraw their bar. */
  private readonly perFile = new Map<FileBar, { done: number; redraw: () => void }>();
  private base = 0;
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(
    out: Output,
    private readonly totalBytes: number,
    private readonly label = 'total',
  ) {
    if (!out.interactive) return;
    this.multibar = new cliProgress.MultiBar(
      {
        stream: out.streams.stderr,
        format: '{name} |{bar}| {percentage}% | {done}/{size} | {speed} | ETA {left}',
        barsize: 20,
        hideCursor: true,
        clearOnComplete: false,
        gracefulExit: false,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    this.totalBar = this.multibar.create(Math.max(1, totalBytes), 0, payload(label, 0, totalBytes, this.totalMeter));
    // Progress arrives per part (seconds apart on a slow line): redraw in between, so that a
    // stall shows as a falling speed and a growing ETA rather than as the last good figures.
    this.ticker = setInterval(() => {
      for (const f of this.perFile.values()) f.redraw();
      this.redrawTotal();
    }, 1000);
    this.ticker.unref();
  }

  file(name: string, size: number): FileBar {
    const meter = new RateMeter();
    const bar = this.multibar?.create(Math.max(1, size), 0, payload(name, 0, size, meter));
    const state = {
      done: 0,
      redraw: () => {
        meter.add(state.done);
        bar?.update(Math.min(state.done, Math.max(1, size)), payload(name, state.done, size, meter));
      },
    };
    const handle: FileBar = {
      update: (done) => {
        state.done = done;
        state.redraw();
        this.redrawTotal();
      },
      finish: (line) => {
        this.perFile.delete(handle);
        this.base += size;
        if (bar) this.multibar!.remove(bar);
        // Without bars the command's result says the same, so a line here would be said twice.
        if (line && this.multibar) this.multibar.log(`${line}\n`);
        this.redrawTotal();
      },
    };
    this.perFile.set(handle, state);
    return handle;
  }

  private redrawTotal(): void {
    let done = this.base;
    for (const f of this.perFile.values()) done += f.done;
    this.totalMeter.add(done);
    this.totalBar?.update(Math.min(done, Math.max(1, this.totalBytes)), payload(this.label, done, this.totalBytes, this.totalMeter));
  }

  stop(): void {
    clearInterval(this.ticker);
    this.multibar?.stop();
  }
}
