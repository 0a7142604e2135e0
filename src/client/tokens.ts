/**
 * The user session the SDK holds: an access token, the refresh token that renews it, and who
 * to tell when they change (a CLI keeps the refresh token on disk, a web app in memory).
 * Refreshes are single-flight: parallel requests that meet an expired token wait for one
 * POST /auth/refresh (a refresh token is spent when used; racing two would revoke the family
 * after the server's reuse grace).
 */
import type { TokenPair } from '../contract/auth.js';

export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  /** Unix ms when the access token expires (from `expires_in`, or the JWT's `exp`). */
  accessExpiresAt: number;
}

/** `exp` of a JWT in unix ms, read without verifying (only to refresh before it passes). */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function tokensFromPair(pair: TokenPair, now = Date.now()): SessionTokens {
  return { accessToken: pair.access_token, refreshToken: pair.refresh_token, accessExpiresAt: now + pair.expires_in * 1000 };
}

export class TokenHolder {
  private access: string | undefined;
  private refresh: string | undefined;
  private expiresAt: number | undefined;
  /** How long the current access token (or cookie) was given for, in ms: the refresh margin is a quarter of it. */
  private lifetime: number | undefined;
  private inFlight: Promise<void> | undefined;
  /**
   * A cookie session (the server keeps the tokens in HttpOnly cookies the SDK never sees):
   * only when the access cookie lapses is known, from the login's or refresh's `expires_in`.
   */
  private cookieSession = false;

  constructor(
    init: { accessToken?: string; refreshToken?: string },
    private readonly onChange?: (tokens: SessionTokens | null) => void,
  ) {
    this.access = init.accessToken;
    this.refresh = init.refreshToken;
    this.expiresAt = init.accessToken ? jwtExpiry(init.accessToken) : undefined;
  }

  get accessToken(): string | undefined {
    return this.access;
  }
  get refreshToken(): string | undefined {
    return this.refresh;
  }

  /** Is this a cookie session the SDK started (login with session "cookie")? */
  get inCookieSession(): boolean {
    return this.cookieSession;
  }

  /**
   * Refresh before sending? A refresh token but no access token, or an access token (or
   * cookie) within 10 s — or a quarter of its lifetime, if shorter — of expiring.
   */
  needsRefresh(now = Date.now()): boolean {
    if (!this.refresh && !this.cookieSession) return false;
    if (!this.access && !this.cookieSession) return true;
    if (this.expiresAt === undefined) return false;
    const margin = Math.min(10_000, (this.lifetime ?? 40_000) / 4);
    return this.expiresAt - margin <= now;
  }

  set(tokens: SessionTokens | null, now = Date.now()): void {
    this.cookieSession = false;
    this.access = tokens?.accessToken;
    this.refresh = tokens?.refreshToken;
    this.expiresAt = tokens?.accessExpiresAt;
    this.lifetime = tokens ? tokens.accessExpiresAt - now : undefined;
    this.onChange?.(tokens);
  }

  /** A cookie session whose access cookie lapses in `expiresInSeconds`. */
  setCookieSession(expiresInSeconds: number, now = Date.now()): void {
    this.access = undefined;
    this.refresh = undefined;
    this.cookieSession = true;
    this.lifetime = expiresInSeconds * 1000;
    this.expiresAt = now + this.lifetime;
  }

  /** Runs `doRefresh` once for every caller waiting at the same time (a cookie session has no token to hand it). */
  refreshOnce(doRefresh: (refreshToken: string | undefined) => Promise<void>, cookie = false): Promise<void> {
    if (!this.refresh && !this.cookieSession && !cookie) return Promise.resolve();
    this.inFlight ??= doRefresh(this.refresh).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}
