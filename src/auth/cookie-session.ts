/**
 * The browser session (SPEC "Web app"): the access token in the HttpOnly `auth_token` cookie
 * (Path=/, read by the guard on every route) and the refresh token in `auth_refresh`, sent only
 * to /auth/ (login, refresh, logout). Both SameSite=Strict and HttpOnly, so no script and no
 * other site's request ever carries or reads them; Secure when PUBLIC_BASE_URL is https.
 * Each lives as long as its token (a cookie outliving its token would only be refused).
 */
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import type { TokenPair } from './sessions.js';

export const ACCESS_COOKIE = 'auth_token';
export const REFRESH_COOKIE = 'auth_refresh';
/** The refresh cookie goes to the issuer's routes only, never to file routes or /storage. */
export const REFRESH_COOKIE_PATH = '/auth/';

export interface CookieSessionOptions {
  secure: boolean;
  refreshTtlSeconds: number;
}

export class CookieSession {
  constructor(private readonly opts: CookieSessionOptions) {}

  private cookie(name: string, value: string, path: string, maxAge: number): string {
    return stringifySetCookie(name, value, { path, maxAge, httpOnly: true, sameSite: 'strict', secure: this.opts.secure });
  }

  /** Sets both cookies from a freshly issued pair; the reply then says only when they lapse. */
  set(reply: FastifyReply, pair: TokenPair): { session: 'cookie'; token_type: 'cookie'; expires_in: number; refresh_expires_in: number } {
    void reply.header('Set-Cookie', [
      this.cookie(ACCESS_COOKIE, pair.access_token, '/', pair.expires_in),
      this.cookie(REFRESH_COOKIE, pair.refresh_token, REFRESH_COOKIE_PATH, this.opts.refreshTtlSeconds),
    ]);
    void reply.header('Cache-Control', 'no-store');
    return { session: 'cookie', token_type: 'cookie', expires_in: pair.expires_in, refresh_expires_in: this.opts.refreshTtlSeconds };
  }

  /** Expires both cookies (same names, paths and attributes, so the browser drops exactly them). */
  clear(reply: FastifyReply): void {
    void reply.header('Set-Cookie', [this.cookie(ACCESS_COOKIE, '', '/', 0), this.cookie(REFRESH_COOKIE, '', REFRESH_COOKIE_PATH, 0)]);
  }

  /** The refresh token the browser sent, if any. */
  refreshToken(request: FastifyRequest): string | undefined {
    const header = request.headers.cookie;
    return (header ? parseCookie(header)[REFRESH_COOKIE] : undefined) || undefined;
  }
}

export function cookieSessionFor(config: Pick<Config, 'publicBaseUrl' | 'auth'>): CookieSession {
  return new CookieSession({
    secure: new URL(config.publicBaseUrl).protocol === 'https:',
    refreshTtlSeconds: config.auth.refreshTtlSeconds,
  });
}
