/**
 * `stream-line <command>`: the user commands (login, upload, download, ls, rm, mv, share,
 * zip), each in commands/. Parses the command line, runs the command, and turns what went wrong
 * into one line on stderr and an exit code: 0 success, 1 failure, 2 usage error, 130 Ctrl-C.
 */
import { parseCommandArgs, str } from './args.js';
import type { Command, CommandContext } from './command.js';
import { downloadCommand } from './commands/download.js';
import { loginCommand, logoutCommand } from './commands/login.js';
import { lsCommand } from './commands/ls.js';
import { mvCommand } from './commands/mv.js';
import { rmCommand } from './commands/rm.js';
import { shareCommand } from './commands/share.js';
import { uploadCommand } from './commands/upload.js';
import { zipCommand } from './commands/zip.js';
import { cliEnv, type CliEnv } from './env.js';
import { Interrupted, UsageError } from './errors.js';
import { Output, type CliStreams } from './output.js';
import { describeError, openSession, type Session } from './session.js';

export const USER_COMMANDS: readonly Command[] = [
  loginCommand,
  logoutCommand,
  uploadCommand,
  downloadCommand,
  lsCommand,
  rmCommand,
  mvCommand,
  shareCommand,
  zipCommand,
];

export const isUserCommand = (name: string | undefined): boolean => USER_COMMANDS.some((c) => c.name === name);

export function userUsage(): string {
  const width = Math.max(...USER_COMMANDS.map((c) => `${c.name} ${c.usage}`.length));
  return [
    'usage: stream-line <command> [--server URL] [--json] ...',
    '',
    ...USER_COMMANDS.map((c) => `  ${`${c.name} ${c.usage}`.padEnd(width)}  ${c.summary}`),
    '',
    'Server: --server URL or STREAM_LINE_URL (else the last login\'s). Credentials: `login`, or',
    'STREAM_LINE_TOKEN (an access token), or STREAM_LINE_SERVICE_TOKEN with --user / STREAM_LINE_USER_ID.',
    'Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (run again to resume).',
  ].join('\n');
}

export interface RunOptions {
  streams: CliStreams;
  env: Record<string, string | undefined>;
}

export async function runUserCli(argv: string[], opts: RunOptions): Promise<number> {
  const [name, ...rest] = argv;
  const command = USER_COMMANDS.find((c) => c.name === name);
  const out = new Output(opts.streams, rest.includes('--json'));
  if (!command) {
    out.error(`unknown command: ${name ?? '(none)'}\n${userUsage()}`);
    return 2;
  }
  const controller = new AbortController();
  // The first Ctrl-C stops the transfers cleanly (state kept, bars closed); a second one
  // does not wait for that.
  const onSigint = () => (controller.signal.aborted ? process.exit(130) : controller.abort(new Interrupted()));
  process.on('SIGINT', onSigint);
  let session: Promise<Session> | undefined;
  try {
    const env: CliEnv = cliEnv(opts.env);
    const args = parseCommandArgs(rest, command.options);
    if (args.values.help) {
      opts.streams.stdout.write(`usage: stream-line ${command.name} ${command.usage}\n  ${command.summary}\n`);
      return 0;
    }
    const ctx: CommandContext = {
      out,
      env,
      args,
      signal: controller.signal,
      session: () => (session ??= openSession({ env, server: str(args.values.server), user: str(args.values.user), out })),
    };
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    const failure = controller.signal.aborted ? new Interrupted() : err;
    if (failure instanceof UsageError) {
      out.error(`${failure.message}\nusage: stream-line ${command.name} ${command.usage}`);
      return 2;
    }
    const { message, code, status, exitCode } = describeError(failure);
    out.error(message, { code, status });
    return exitCode;
  } finally {
    process.off('SIGINT', onSigint);
    if (session) await (await session.catch(() => undefined))?.close();
  }
}
