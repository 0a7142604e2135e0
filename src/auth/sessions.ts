/**
 * Login, refresh-token rotation and logout. Each login starts a refresh family; each
 * refresh spends the presented token and issues the next. Presenting a spent token again
 * means it was stolen or replayed, so the whole family is revoked, except within a short
 * grace window (two tabs, a retried request), where the one successor pair is handed out again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RefreshTokenRow, TokenStore, UserRecord } from '../db/types.js';
import { InvalidToken, NotAuthenticated, nullIfNotFound } from '../errors/index.js';
import type { Principal } from './principal.js';
import { scopesForRole } from './principal.js';
import type { LoginThrottle } from './throttle.js';
import { CLOCK_TOLERANCE_S, type IssuedToken, type TokenIdentity, type TokenSigner } from './tokens.js';
import type { UserService } from './users.js';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
}

export interface SessionOptions {
  /** REFRESH_REUSE_GRACE_SECONDS. */
  refreshReuseGraceSeconds: number;
}

const now = () => Math.floor(Date.now() / 1000);

export class SessionService {
  constructor(
    private readonly users: UserService,
    private readonly signer: TokenSigner,
    private readonly tokens: TokenStore,
    private readonly throttle: LoginThrottle,
    private readonly opts: SessionOptions = { refreshReuseGraceSeconds: 0 },
  ) {}

  private issueAccessFor(user: UserRecord, identity?: TokenIdentity): Promise<IssuedToken> {
    const subject = { userId: user.id, username: user.username, role: user.role, scope: scopesForRole(user.role).join(' ') };
    return this.signer.issueAccess(subject, undefined, identity);
  }

  private pair(access: IssuedToken, refresh: IssuedToken): TokenPair {
    return { access_token: access.token, refresh_token: refresh.token, token_type: 'bearer', expires_in: access.expiresIn };
  }

  /** What the store keeps of a pair: identities and times, never a usable token. */
  private row(user: UserRecord, access: IssuedToken, refresh: IssuedToken, familyId: string): RefreshTokenRow {
    return {
      jti: refresh.jti,
      familyId,
      userId: user.id,
      accessJti: access.jti,
      issuedAt: refresh.iat,
      expiresAt: refresh.exp,
      accessExpiresAt: access.exp,
    };
  }

  /**
   * A login from `ip`, throttled (throttle.ts): only failures count, per address and per
   * username + address, and a username under a guessing flood is answered a little later.
   */
  async login(username: string, password: string, ip: string): Promise<{ tokens: TokenPair; user: UserRecord }> {
    const attempt = await this.throttle.begin(username, ip);
    if (attempt.delayMs > 0) await sleep(attempt.delayMs);
    let result: { tokens: TokenPair; user: UserRecord };
    try {
      result = await this.checkPassword(username, password);
    } catch (err) {
      // Settled before answering: with shared counts, the next guess on any instance sees it.
      if (err instanceof NotAuthenticated) await attempt.failed(); // invalid_credentials
      else await attempt.abandoned(); // e.g. 503 login_busy: no password was checked
      throw err;
    }
    await attempt.succeeded();
    return result;
  }

  private async checkPassword(username: string, password: string): Promise<{ tokens: TokenPair; user: UserRecord }> {
    const user = await this.users.authenticate(username, password);
    if (!user) throw new NotAuthenticated('Invalid username or password', 'invalid_credentials');
    const access = await this.issueAccessFor(user);
    const refresh = await this.signer.issueRefresh(user.id);
    await this.tokens.createRefreshFamily(this.row(user, access, refresh, randomUUID()), now());
    return { tokens: this.pair(access, refresh), user };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = await this.signer.verify(refreshToken, 'refresh');
    // A deleted user is refused; a failed lookup is a 500, not a guess either way.
    const user = await nullIfNotFound(this.users.get(claims.sub));
    if (!user || !user.isActive) throw new InvalidToken();
    const access = await this.issueAccessFor(user);
    const next = await this.signer.issueRefresh(user.id);
    const result = await this.tokens.rotateRefreshToken(claims.jti, this.row(user, access, next, ''), now(), this.opts.refreshReuseGraceSeconds);
    if (result.outcome === 'rotated') return this.pair(access, next);
    if (result.outcome === 'replayed') {
      // The same successor pair again: same jtis and times, so revoking it (logout, reuse, a
      // disabled user) reaches every copy. Signed anew rather than stored: the database never
      // holds a usable token.
      const s = result.successor;
      const again = await this.issueAccessFor(user, { jti: s.accessJti, iat: s.issuedAt, exp: s.accessExpiresAt });
      const refreshAgain = await this.signer.issueRefresh(user.id, { jti: s.jti, iat: s.issuedAt, exp: s.expiresAt });
      return this.pair(again, refreshAgain);
    }
    // 'reused': the store has revoked the family and every access token issued with it.
    throw new InvalidToken();
  }

  /**
   * Revokes the caller's access token (by its revocation id, for as long as it could be
   * accepted) and its refresh family. An external token without a jti is revoked by a hash of
   * its claims (see AccessVerifier): refusing its logout would leave it working.
   */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    const t = principal.token;
    if (t) {
      await this.tokens.revokeAccessToken(t.revocationId, t.exp);
      if (t.jti) await this.tokens.revokeFamily({ accessJti: t.jti }, now());
    }
    if (refreshToken) {
      // A refresh token that is not acceptable has nothing to revoke; any other failure surfaces.
      const claims = await this.signer.verify(refreshToken, 'refresh').catch((err: unknown) => {
        if (err instanceof InvalidToken) return null;
        throw err;
      });
      if (claims && claims.sub === principal.userId) await this.tokens.revokeFamily({ refreshJti: claims.jti }, now());
    }
  }

  /**
   * Logout by the refresh token alone: a browser whose access cookie has lapsed still holds its
   * HttpOnly refresh cookie, which only the server can end. Whoever holds it could refresh with
   * it anyway, so it may also end its family (which revokes the family's access tokens).
   */
  async logoutRefresh(refreshToken: string): Promise<void> {
    const claims = await this.signer.verify(refreshToken, 'refresh').catch((err: unknown) => {
      if (err instanceof InvalidToken) return null;
      throw err;
    });
    if (claims) await this.tokens.revokeFamily({ refreshJti: claims.jti }, now());
  }

  /**
   * Housekeeping: drops revocation rows and refresh tokens that can no longer matter. A token
   * is accepted until exp + the clock tolerance, so its revocation is kept that long too.
   */
  pruneExpired(at = now()): Promise<number> {
    return this.tokens.pruneTokens(at - CLOCK_TOLERANCE_S);
  }

  /** Housekeeping: forgets login-failure windows that have ended (`at` in unix ms). */
  pruneLoginFailures(at: number): Promise<number> {
    return this.throttle.prune(at);
  }
}
