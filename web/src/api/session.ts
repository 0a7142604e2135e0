/**
 * The page's session: HttpOnly cookies only (SPEC "Web app"). No token ever reaches a script:
 * login asks the server for `{"session":"cookie"}`, every call goes out with the browser's
 * cookies, and the access cookie is renewed with the refresh cookie (Path=/auth/) shortly
 * before it expires, and once more when a call meets a 401 anyway (a sleeping laptop).
 */
import { StreamLineClient } from '../../../src/client/index.js';
import type { MeReply } from '../../../src/client/index.js';

export type Me = MeReply;

/** Renew this long before the access cookie expires. */
const REFRESH_MARGIN_MS = 60_000;
/** When the server does not say how long the access cookie lasts (SPEC default: 15 min). */
const DEFAULT_ACCESS_SECONDS = 15 * 60;

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
let onExpired: () => void = () => {};

/** POST /auth/refresh with the refresh cookie; true when the server rotated both cookies. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const res = await globalThis.fetch('/auth/refresh', { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (!res.ok) return false;
      scheduleRefresh(await expiresIn(res));
      return true;
    } catch {
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

async function expiresIn(res: Response): Promise<number> {
  try {
    const body = (await res.json()) as { expires_in?: unknown };
    return typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_ACCESS_SECONDS;
  } catch {
    return DEFAULT_ACCESS_SECONDS;
  }
}

function scheduleRefresh(seconds: number): void {
  clearTimeout(refreshTimer);
  const ms = Math.max(5_000, seconds * 1000 - REFRESH_MARGIN_MS);
  refreshTimer = setTimeout(() => {
    void refreshSession().then((ok) => {
      if (!ok) onExpired();
    });
  }, ms);
}

/**
 * fetch for the SDK: cookies on, and a 401 from an API route answered by one refresh and one
 * re-send (the SDK's own refresh needs a refresh token in hand, which the page never has).
 * Bodies are values (bytes, Blob, string), so the re-send sends the same thing.
 */
const cookieFetch: typeof fetch = async (input, init) => {
  const res = await globalThis.fetch(input, { ...init, credentials: 'same-origin' });
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (res.status !== 401 || new URL(url, location.href).pathname.startsWith('/auth/login')) return res;
  if (!(await refreshSession())) {
    onExpired();
    return res;
  }
  return globalThis.fetch(input, { ...init, credentials: 'same-origin' });
};

export const client = new StreamLineClient({ baseUrl: location.origin, credentials: 'same-origin', fetch: cookieFetch });

/** Called when the session cannot be renewed: the page shows the login form again. */
export function onSessionExpired(fn: () => void): void {
  onExpired = fn;
}

/** The signed-in user, or null (after trying the refresh cookie once). */
export async function currentUser(): Promise<Me | null> {
  const me = async (): Promise<Me | null> => {
    const res = await globalThis.fetch('/auth/me', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    return res.ok ? ((await res.json()) as Me) : null;
  };
  const first = await me();
  if (first) {
    scheduleRefresh(DEFAULT_ACCESS_SECONDS / 2);
    return first;
  }
  return (await refreshSession()) ? me() : null;
}

/** Logs in with a cookie session; throws the server's error (401 bad credentials, 429). */
export async function login(username: string, password: string): Promise<Me> {
  const res = await client.request({ method: 'POST', path: '/auth/login', json: { username, password, session: 'cookie' }, auth: false, retry: false });
  scheduleRefresh(await expiresIn(res));
  const me = await currentUser();
  if (!me) throw new Error('Signed in, but the session cookie was not kept: are cookies blocked for this site?');
  return me;
}

/** Revokes the session at the server and drops the cookies (the server clears them). */
export async function logout(): Promise<void> {
  clearTimeout(refreshTimer);
  await globalThis.fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } }).catch(() => undefined);
}
