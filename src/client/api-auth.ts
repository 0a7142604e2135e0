/** Auth routes: login, refresh, logout, me, and the issuer's discovery documents. */
import type { CookieLoginReply, Jwks, LoginReply, MeReply } from '../contract/auth.js';
import { tokensFromPair, type SessionTokens } from './tokens.js';
import type { Transport } from './transport.js';

export interface OpenIdConfiguration {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  id_token_signing_alg_values_supported: string[];
  [member: string]: unknown;
}

export class AuthApi {
  constructor(private readonly t: Transport) {}

  /**
   * POST /auth/login: the client keeps the access and refresh tokens (and tells `onTokens`),
   * then renews the access token by itself. Failed logins are not retried except on
   * 429/503, after the Retry-After the server gives. For a browser session that keeps no
   * token in script reach, see `loginCookie`.
   */
  async login(username: string, password: string, opts: { signal?: AbortSignal } = {}): Promise<LoginReply> {
    const reply = await this.t.json<LoginReply>({ method: 'POST', path: '/auth/login', json: { username, password }, auth: false, signal: opts.signal });
    this.t.tokens.set(tokensFromPair(reply));
    return reply;
  }

  /**
   * POST /auth/login with `"session": "cookie"`: the server sets HttpOnly cookies (access, and
   * refresh for /auth/) and the reply carries no token; from then on this client sends the
   * cookies and renews them through /auth/refresh before the access cookie lapses (and once
   * on a 401). Use a client made with `session: 'cookie'` (credentials 'include'); the page
   * must be on the server's origin or one in its CORS_ORIGINS.
   */
  async loginCookie(username: string, password: string, opts: { signal?: AbortSignal } = {}): Promise<CookieLoginReply> {
    const reply = await this.t.json<CookieLoginReply>({ method: 'POST', path: '/auth/login', json: { username, password, session: 'cookie' }, auth: false, signal: opts.signal });
    this.t.tokens.setCookieSession(reply.expires_in);
    return reply;
  }

  /** POST /auth/refresh now (the client also does it by itself when a token or cookie expires). */
  async refresh(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.t.tokens.refreshToken && !this.t.cookieMode) throw new TypeError('refresh: this client holds no refresh token');
    await this.t.refresh(opts.signal);
  }

  /** POST /auth/logout: revokes the access token and its refresh family; the client forgets both. */
  async logout(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const refreshToken = this.t.tokens.refreshToken;
    try {
      await this.t.json({ method: 'POST', path: '/auth/logout', json: refreshToken ? { refresh_token: refreshToken } : {}, signal: opts.signal });
    } finally {
      this.t.tokens.set(null);
    }
  }

  /** GET /auth/me: the user, their effective role and scopes, and their quota figures. */
  me(opts: { signal?: AbortSignal } = {}): Promise<MeReply> {
    return this.t.json<MeReply>({ path: '/auth/me', signal: opts.signal });
  }

  /** The session the client holds now (undefined members when it has none). */
  get tokens(): Partial<SessionTokens> {
    return { accessToken: this.t.tokens.accessToken, refreshToken: this.t.tokens.refreshToken };
  }

  /** Replace the session (e.g. with a refresh token read from storage), or clear it with null. */
  setTokens(tokens: { accessToken?: string; refreshToken: string } | null): void {
    if (tokens === null) return this.t.tokens.set(null);
    this.t.tokens.set({ accessToken: tokens.accessToken ?? '', refreshToken: tokens.refreshToken, accessExpiresAt: tokens.accessToken ? Date.now() + 60_000 : 0 });
  }

  /** GET /.well-known/jwks.json: the public keys that verify this server's tokens. */
  jwks(opts: { signal?: AbortSignal } = {}): Promise<Jwks> {
    return this.t.json<Jwks>({ path: '/.well-known/jwks.json', auth: false, signal: opts.signal });
  }

  /** GET /.well-known/openid-configuration. */
  openIdConfiguration(opts: { signal?: AbortSignal } = {}): Promise<OpenIdConfiguration> {
    return this.t.json<OpenIdConfiguration>({ path: '/.well-known/openid-configuration', auth: false, signal: opts.signal });
  }
}
