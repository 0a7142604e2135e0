/**
 * The user CLI run as this process: its real streams and environment (read here and in no
 * other module of the CLI), and an exit once the command is done (an idle keep-alive socket
 * must not hold the process open).
 */
import { runUserCli } from './main.js';

export async function runUserProcess(argv: string[]): Promise<never> {
  const code = await runUserCli(argv, { streams: process, env: process.env });
  process.exit(code);
}
