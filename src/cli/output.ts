/**
 * Where the CLI writes: results on stdout (one JSON document with --json, plain lines
 * otherwise), notes, bars and errors on stderr. No colours anywhere, so nothing needs to be
 * stripped when the output is piped; progress bars only when stderr is a terminal and --json
 * is off.
 */
import type { Readable, Writable } from 'node:stream';

export interface CliStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export class Output {
  constructor(
    readonly streams: CliStreams,
    readonly json: boolean,
  ) {}

  /** Bars and prompts belong to a person at a terminal, never to a pipe or to --json. */
  get interactive(): boolean {
    return !this.json && this.streams.stderr.isTTY === true;
  }

  /** The command's result: `value` as JSON with --json, else the lines `human` gives. */
  result(value: unknown, human: () => string[]): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value)}\n`);
    else for (const line of human()) this.streams.stdout.write(`${line}\n`);
  }

  /** A message for the person (stderr; also with --json, where stdout is for the result only). */
  note(message: string): void {
    this.streams.stderr.write(`${message}\n`);
  }

  error(message: string, details: { code?: string; status?: number } = {}): void {
    if (this.json) this.streams.stderr.write(`${JSON.stringify({ error: { message, ...details } })}\n`);
    else this.streams.stderr.write(`stream-line: ${message}\n`);
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line per row, columns separated by two spaces and padded to the widest cell. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
}
