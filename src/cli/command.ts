/** What a user command is, and what it is handed when it runs. */
import type { ParsedArgs, OptionSpec } from './args.js';
import type { CliEnv } from './env.js';
import type { Output } from './output.js';
import type { Session } from './session.js';

export interface CommandContext {
  out: Output;
  env: CliEnv;
  args: ParsedArgs;
  /** Aborted on Ctrl-C: every transfer stops, what was saved stays. */
  signal: AbortSignal;
  /** The server and an authenticated SDK client (login is the one command that builds its own). */
  session(): Promise<Session>;
}

export interface Command {
  name: string;
  /** One line: the arguments after the command's name. */
  usage: string;
  summary: string;
  options: OptionSpec;
  /** Resolves with the exit code (0 unless said otherwise). */
  run(ctx: CommandContext): Promise<number | void>;
}
