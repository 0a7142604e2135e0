/**
 * Login, refresh-token rotation and logout. Each login starts a refresh family; each
 * refresh spends the presented token and issues the next. Presenting a spent token again
 * means it was stolen or replayed, so the whole family is revoked.
 */
import type { TokenStore, UserRecord } from '../db/types.js';
import { UnauthorizedError } from '../http/errors.js';
import { randomUUID } from 'node:crypto';
import type { Principal } from './principal.js';
import { scopesForRole } from './principal.js';
import type { IssuedToken, TokenSigner } from './tokens.js';
import type { UserService } from './users.js';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  expires_in: number;
}

const now = () => Math.floor(Date.now() / 1000);

export class SessionService {
  constructor(
    private readonly users: UserService,
    private readonly signer: TokenSigner,
    private readonly tokens: TokenStore,
  ) {}

  private issueAccessFor(user: UserRecord): Promise<IssuedToken> {
    return this.signer.issueAccess({ userId: user.id, username: user.username, role: user.role, scope: scopesForRole(user.role).join(' ') });
  }

  private pair(access: IssuedToken, refresh: IssuedToken): TokenPair {
    return { access_token: access.token, refresh_token: refresh.token, token_type: 'bearer', expires_in: access.expiresIn };
  }

  async login(username: string, password: string): Promise<{ tokens: TokenPair; user: UserRecord }> {
    const user = await this.users.authenticate(username, password);
    if (!user) throw new UnauthorizedError('Invalid username or password', 'invalid_credentials');
    const access = await this.issueAccessFor(user);
    const refresh = await this.signer.issueRefresh(user.id);
    await this.tokens.createRefreshFamily(
      { jti: refresh.jti, familyId: randomUUID(), userId: user.id, accessJti: access.jti, expiresAt: refresh.exp },
      now(),
    );
    return { tokens: this.pair(access, refresh), user };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const claims = await this.signer.verify(refreshToken, 'refresh');
    const user = await this.users.get(claims.sub).catch(() => null);
    if (!user || !user.isActive) throw new UnauthorizedError('Invalid or expired token', 'invalid_token');
    const access = await this.issueAccessFor(user);
    const next = await this.signer.issueRefresh(user.id);
    const outcome = await this.tokens.rotateRefreshToken(
      claims.jti,
      { jti: next.jti, familyId: '', userId: user.id, accessJti: access.jti, expiresAt: next.exp },
      now(),
    );
    if (outcome !== 'rotated') {
      // 'reused': the store has revoked the family and every access token issued with it.
      throw new UnauthorizedError('Invalid or expired token', 'invalid_token');
    }
    return this.pair(access, next);
  }

  /** Revokes the caller's access token (by jti, until it expires) and its refresh family. */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    const t = principal.token;
    if (t?.jti) {
      await this.tokens.revokeAccessToken(t.jti, t.exp);
      await this.tokens.revokeFamily({ accessJti: t.jti }, now());
    }
    if (refreshToken) {
      const claims = await this.signer.verify(refreshToken, 'refresh').catch(() => null);
      if (claims && claims.sub === principal.userId) await this.tokens.revokeFamily({ refreshJti: claims.jti }, now());
    }
  }
}
