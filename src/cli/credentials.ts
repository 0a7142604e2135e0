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
import { CliFailure } from './errors.js';

interface SavedEntry {
  username?: string;
  refresh_token: string;
}
interface CredentialsFile {
  /** The server of the last login: used when neither --server nor STREAM_LINE_URL is given. */
  default?: string;
  servers: Record<string, SavedEntry>;
}
export type SavedLogin = SavedEntry & { server: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEntry = (v: unknown): v is SavedEntry =>
  isRecord(v) && typeof v.refresh_token === 'string' && v.refresh_token !== '' && (v.username === undefined || typeof v.username === 'string');

/** The file as this CLI writes it, or null (checked by hand: see env.ts on zod's start-up cost). */
function parseFile(text: string): CredentialsFile | null {
  const v: unknown = JSON.parse(text);
  if (!isRecord(v) || !isRecord(v.servers) || (v.default !== undefined && typeof v.default !== 'string')) return null;
  if (!Object.values(v.servers).every(isEntry)) return null;
  return { default: v.default, servers: v.servers as Record<string, SavedEntry> };
}

export const credentialsPath = (configDir: string): string => path.join(configDir, 'credentials');

async function readFile(configDir: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = await fs.readFile(credentialsPath(configDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw err;
  }
  let parsed: CredentialsFile | null = null;
  try {
    parsed = parseFile(text);
  } catch {
    // not JSON: said below
  }
  if (parsed) return parsed;
  throw new CliFailure(`${credentialsPath(configDir)} is not a credentials file this CLI wrote: remove it and log in again`);
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
