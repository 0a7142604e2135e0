/**
 * ~/.config/stream-line/credentials (XDG_CONFIG_HOME honoured): JSON, mode 0600 in a 0700
 * directory, holding per server only what `login` needs to come back — the username and the
 * refresh token. Never an access token or a password: an access token is minted from the
 * refresh token by each run and lives only in that process.
 *
 * The refresh token rotates on every use (the old one is spent), so each run writes the new
 * one back at once; writes go through a temporary file and a rename, so a crash leaves either
 * the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CliFailure } from './errors.js';

const entrySchema = z.object({ username: z.string().optional(), refresh_token: z.string().min(1) });
const fileSchema = z.object({
  /** The server of the last login: used when neither --server nor STREAM_LINE_URL is given. */
  default: z.string().optional(),
  servers: z.record(z.string(), entrySchema),
});
type CredentialsFile = z.infer<typeof fileSchema>;
export type SavedLogin = z.infer<typeof entrySchema> & { server: string };

export const credentialsPath = (configDir: string): string => path.join(configDir, 'credentials');

async function readFile(configDir: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = await fs.readFile(credentialsPath(configDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw err;
  }
  try {
    return fileSchema.parse(JSON.parse(text));
  } catch {
    throw new CliFailure(`${credentialsPath(configDir)} is not a credentials file this CLI wrote: remove it and log in again`);
  }
}

async function writeFile(configDir: string, data: CredentialsFile): Promise<void> {
  await fs.mkdir(configDir, { recursive: true, mode: 0o700 });
  const target = credentialsPath(configDir);
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  // mode at creation (no window with the umask's wider mode), then chmod in case the umask cut more.
  await fs.writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await fs.chmod(tmp, 0o600);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** The saved login for `server`, or for the last server logged in to when none is named. */
export async function savedLogin(configDir: string, server: string | undefined): Promise<SavedLogin | undefined> {
  const file = await readFile(configDir);
  const which = server ?? file.default;
  const entry = which === undefined ? undefined : file.servers[which];
  return entry && which !== undefined ? { server: which, ...entry } : undefined;
}

/** Saves (or replaces) the refresh token for `server` and makes it the default server. */
export async function saveLogin(configDir: string, login: SavedLogin): Promise<void> {
  const file = await readFile(configDir);
  const previous = file.servers[login.server];
  file.servers[login.server] = { username: login.username ?? previous?.username, refresh_token: login.refresh_token };
  file.default = login.server;
  await writeFile(configDir, file);
}

/** Forgets `server`'s login (after logout, or when its refresh token was refused). */
export async function forgetLogin(configDir: string, server: string): Promise<void> {
  const file = await readFile(configDir);
  if (!(server in file.servers)) return;
  delete file.servers[server];
  if (file.default === server) delete file.default;
  await writeFile(configDir, file);
}
