/**
 * The command line, over the same services as the HTTP routes:
 *   npm run cli -- users add alice --role operator [--password P] [--email E]
 *   npm run cli -- users list | users disable alice | users enable alice
 *   npm run cli -- keys rotate
 *   npm run cli -- migrate          (applies schema migrations and exits: for deploy pipelines)
 *   npm run cli -- copy-data --to-database URL --to-storage s3   (ops/copy-data-command.ts)
 * and the user commands (login, upload, download, ls, rm, mv, share, zip: src/cli/), which the
 * package's `stream-line` binary (src/cli/bin.ts) runs too.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { KeyRing } from './auth/keyring.js';
import { z } from 'zod';
import { passwordSchema, publicUser, roleSchema, usernameSchema } from './auth/users.js';
import { exitOnConfigError, runtimeConfig } from './config/runtime.js';
import { createContext, keyRingOptions } from './context.js';
import { openMetadataStore } from './db/open.js';
import { AppError } from './errors/index.js';
import { copyDataCommand } from './ops/copy-data-command.js';
import { USER_COMMAND_NAMES } from './cli/names.js';

const USAGE = `usage:
  cli users add <username> [--role viewer|operator|admin] [--password P] [--email E]
  cli users list
  cli users disable <username|id>
  cli users enable <username|id>
  cli keys rotate
  cli migrate
  cli copy-data [--to-database URL] [--to-storage s3|local:DIR] [--parallel N] [--size-only]   (--help for more)
user commands, against a running server (src/cli/; also the package's \`stream-line\` binary):
  cli login|logout|upload|download|ls|rm|mv|share|zip ...   (cli <command> --help)`;

/** The same rules as POST /v1/admin/users: the CLI is no way around them. */
function checked<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`${what}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'copy-data') return copyDataCommand(argv.slice(1));
  // The user commands talk to a server through the SDK: loaded only when one is asked for.
  if (USER_COMMAND_NAMES.includes(argv[0] ?? '')) return (await import('./cli/process.js')).runUserProcess(argv);
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { role: { type: 'string' }, password: { type: 'string' }, email: { type: 'string' } },
  });
  const [area, action, name] = positionals;
  let config;
  try {
    config = runtimeConfig((m) => process.stderr.write(`warning: ${m}\n`));
  } catch (err) {
    exitOnConfigError(err);
  }
  if (area === 'migrate' && !action) {
    // Opening the store applies what is missing, once, under the database's lock.
    await (await openMetadataStore(config)).close();
    process.stdout.write(`database schema is up to date (${config.databaseUrl.split(':')[0]})\n`);
    return 0;
  }
  if (area === 'keys' && action === 'rotate') {
    // With PostgreSQL the key ring lives in the database, reached through the store's pool.
    const store = await openMetadataStore(config);
    try {
      const kid = await KeyRing.rotate(keyRingOptions(config, store));
      process.stdout.write(`new active key: ${kid}\n`);
    } finally {
      await store.close();
    }
    return 0;
  }
  if (area !== 'users' || !action) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const ctx = await createContext(config);
  try {
    if (action === 'list') {
      for (const u of await ctx.users.list()) {
        process.stdout.write(`${u.id}\t${u.username}\t${u.role}\t${u.isActive ? 'active' : 'disabled'}\n`);
      }
      return 0;
    }
    if (!name) throw new Error(USAGE);
    if (action === 'add') {
      const password = checked(passwordSchema, values.password ?? randomBytes(12).toString('base64url'), '--password');
      const user = await ctx.users.create({
        username: checked(usernameSchema, name, 'username'),
        password,
        role: checked(roleSchema, values.role ?? 'operator', '--role'),
        email: values.email === undefined ? undefined : checked(z.email().max(320), values.email, '--email'),
      });
      process.stdout.write(`${JSON.stringify(publicUser(user))}\n`);
      if (!values.password) process.stdout.write(`generated password: ${password}\n`);
      return 0;
    }
    if (action === 'disable' || action === 'enable') {
      const user = await ctx.users.find(name);
      await ctx.users.update(user.id, { is_active: action === 'enable' });
      process.stdout.write(`${action}d ${user.username}\n`);
      return 0;
    }
    throw new Error(USAGE);
  } finally {
    await ctx.store.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof AppError || err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
