/**
 * Command-line parsing over node:util parseArgs (strict: an unknown flag or a missing value is
 * a usage error, exit 2), with the flags every command takes.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Flags every user command accepts. */
export const GLOBAL_OPTIONS = {
  server: { type: 'string' },
  json: { type: 'boolean' },
  user: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

export function parseCommandArgs(argv: string[], options: OptionSpec): ParsedArgs {
  try {
    const { positionals, values } = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { positionals, values: values as ParsedArgs['values'] };
  } catch (err) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for what the user typed.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message);
    throw err;
  }
}

export const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** A whole number flag within bounds, or the default when absent. */
export function intFlag(values: ParsedArgs['values'], name: string, fallback: number, min: number, max: number): number {
  const raw = str(values[name]);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new UsageError(`--${name}: a whole number from ${min} to ${max}, not "${raw}"`);
  return n;
}
