#!/usr/bin/env node
/**
 * The package's `stream-line` binary. User commands (login, upload, download, ls, rm, mv,
 * share, zip) run here; the admin commands (users, keys, migrate, copy-data) go to the admin
 * CLI (src/cli.ts), which reads the same arguments; anything else is a usage error (exit 2).
 */
import { ADMIN_COMMAND_NAMES, USER_COMMAND_NAMES } from './names.js';

const argv = process.argv.slice(2);
const first = argv[0];

if (first !== undefined && USER_COMMAND_NAMES.includes(first)) {
  const { runUserProcess } = await import('./process.js');
  await runUserProcess(argv);
} else if (first !== undefined && ADMIN_COMMAND_NAMES.includes(first)) {
  await import('../cli.js');
} else {
  // Anything else is a usage error here, before the admin CLI would read (and, with no
  // configuration, create) a server's data directory in the current one.
  const { userUsage } = await import('./main.js');
  const admin = [
    '',
    'Admin commands (on the server machine, over its configuration; also `npm run cli -- ...`):',
    '  users add|list|disable|enable ...   keys rotate   migrate   copy-data ...',
  ].join('\n');
  const help = first === '--help' || first === '-h' || first === 'help';
  if (!help && first !== undefined) process.stderr.write(`stream-line: unknown command: ${first}\n`);
  (help ? process.stdout : process.stderr).write(`${userUsage()}\n${admin}\n`);
  process.exit(help ? 0 : 2);
}
