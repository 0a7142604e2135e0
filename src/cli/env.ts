/**
 * The CLI's environment, read once by the entry point (process.ts) and passed down: which
 * server, which credentials, and where the XDG base directories put the credentials and resume
 * state. No zod in the modules every command loads: importing it costs ~170 ms of the CLI's
 * ~350 ms start (measured), and these are a few optional strings.
 */
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './errors.js';

export interface CliEnv {
  /** STREAM_LINE_URL: the server when --server is not given. */
  serverUrl?: string;
  /** STREAM_LINE_TOKEN: an access token (JWT) used as it is, never refreshed or saved. */
  token?: string;
  /** STREAM_LINE_SERVICE_TOKEN: the server's AUTH_SERVICE_TOKEN; acts for STREAM_LINE_USER_ID. */
  serviceToken?: string;
  /** STREAM_LINE_USER_ID: the user a service token acts for (or --user). */
  userId?: string;
  /** $XDG_CONFIG_HOME/stream-line (default ~/.config/stream-line): the credentials file. */
  configDir: string;
  /** $XDG_STATE_HOME/stream-line (default ~/.local/state/stream-line): resume state. */
  stateDir: string;
}

/** A set, non-blank variable, trimmed; undefined otherwise. */
const read = (env: Record<string, string | undefined>, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

/** The XDG spec: a relative path in an XDG_* variable is invalid and must be ignored. */
function xdgDir(value: string | undefined, home: string, fallback: string): string {
  return path.join(value && path.isAbsolute(value) ? value : path.join(home, fallback), 'stream-line');
}

export function cliEnv(env: Record<string, string | undefined>): CliEnv {
  const home = read(env, 'HOME') ?? os.homedir();
  return {
    serverUrl: read(env, 'STREAM_LINE_URL'),
    token: read(env, 'STREAM_LINE_TOKEN'),
    serviceToken: read(env, 'STREAM_LINE_SERVICE_TOKEN'),
    userId: read(env, 'STREAM_LINE_USER_ID'),
    configDir: xdgDir(read(env, 'XDG_CONFIG_HOME'), home, '.config'),
    stateDir: xdgDir(read(env, 'XDG_STATE_HOME'), home, path.join('.local', 'state')),
  };
}

/** A server URL as the user typed it, checked and without a trailing slash. */
export function normaliseServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--server: not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server: must be http:// or https://, not ${url.protocol}`);
  if (url.search || url.hash || url.username || url.password) throw new UsageError('--server: give the base URL only (no query, fragment or credentials)');
  return url.toString().replace(/\/+$/, '');
}
