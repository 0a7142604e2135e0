/**
 * The progress of `copy-data`, on stderr: a bar redrawn in place on a terminal, a plain line
 * every few seconds otherwise (a log file or CI output gets no carriage returns).
 */

export interface ProgressState {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Since the start, for the rate and the time left. */
  elapsedMs: number;
}

export interface ProgressOut {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "1,234/5,000 files, 1.2 GiB/4.8 GiB (25%), 85.0 MiB/s, 42s left" */
export function describeProgress(p: ProgressState): string {
  const share = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 1;
  const rate = p.elapsedMs > 0 ? (p.bytesDone * 1000) / p.elapsedMs : 0;
  const left = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : Infinity;
  const n = (x: number): string => x.toLocaleString('en-US');
  return (
    `${n(p.filesDone)}/${n(p.filesTotal)} files, ${formatBytes(Math.round(p.bytesDone))}/${formatBytes(p.bytesTotal)} ` +
    `(${Math.floor(share * 100)}%), ${formatBytes(Math.round(rate))}/s, ${p.filesDone === p.filesTotal ? 'done' : `${formatDuration(left)} left`}`
  );
}

/** A bar sized to the terminal, followed by the same figures as the plain line. */
export function progressBar(p: ProgressState, columns: number): string {
  const text = describeProgress(p);
  const width = Math.max(10, Math.min(40, columns - text.length - 4));
  const share = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 1;
  const full = Math.round(share * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${text}`;
}

export class Progress {
  private bytesDone = 0;
  private filesDone = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: ProgressOut,
    private readonly total: { files: number; bytes: number },
    /** How often a plain line is written when `out` is not a terminal. */
    private readonly lineEveryMs = 5_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.render(), this.out.isTTY ? 250 : this.lineEveryMs);
    this.timer.unref();
  }

  credit(bytes: number): void {
    this.bytesDone += bytes;
  }

  /** One file finished; `uncredited` is what of its size the streams did not report. */
  fileDone(uncredited: number): void {
    this.bytesDone += uncredited;
    this.filesDone += 1;
  }

  state(): ProgressState {
    return { filesDone: this.filesDone, filesTotal: this.total.files, bytesDone: this.bytesDone, bytesTotal: this.total.bytes, elapsedMs: Date.now() - this.started };
  }

  private render(): void {
    if (this.out.isTTY) this.out.write(`\r${progressBar(this.state(), this.out.columns ?? 80)}\x1b[K`);
    else this.out.write(`copy-data: ${describeProgress(this.state())}\n`);
  }

  /** Draws the last state and leaves the line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.render();
    if (this.out.isTTY) this.out.write('\n');
  }

  /** A message on its own line, above a bar being drawn. */
  note(line: string): void {
    this.out.write(this.out.isTTY ? `\r\x1b[K${line}\n` : `${line}\n`);
  }
}
