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
  private inFlight: Promise<void> | undefined;

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

  /** Refresh before sending? No access token but a refresh token, or one expiring within `marginMs`. */
  needsRefresh(now = Date.now(), marginMs = 10_000): boolean {
    if (!this.refresh) return false;
    if (!this.access) return true;
    return this.expiresAt !== undefined && this.expiresAt - marginMs <= now;
  }

  set(tokens: SessionTokens | null): void {
    this.access = tokens?.accessToken;
    this.refresh = tokens?.refreshToken;
    this.expiresAt = tokens?.accessExpiresAt;
    this.onChange?.(tokens);
  }

  /** Runs `doRefresh` once for every caller waiting at the same time. */
  refreshOnce(doRefresh: (refreshToken: string) => Promise<SessionTokens>): Promise<void> {
    const refreshToken = this.refresh;
    if (!refreshToken) return Promise.resolve();
    this.inFlight ??= doRefresh(refreshToken)
      .then((t) => this.set(t))
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
