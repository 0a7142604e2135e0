/**
 * Signing and verifying our own JWTs. Access tokens: header typ "at+jwt", claims iss, aud,
 * sub, user_id, username, role, roles, scope, iat, exp, jti, type "access". Refresh tokens
 * are JWTs too (typ "rt+jwt", type "refresh") so that one can never pass for the other.
 * Verification pins the algorithm to the key's own and never looks at jku/x5u/jwk headers:
 * the key is found only by `kid` in our own ring.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { NotAuthenticated, InvalidToken } from '../errors/index.js';
import type { KeyRing } from './keyring.js';
import type { Role } from './principal.js';

export type TokenType = 'access' | 'refresh';
const TYP: Record<TokenType, string> = { access: 'at+jwt', refresh: 'rt+jwt' };

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export interface AccessSubject {
  userId: string;
  username: string;
  role: Role;
  scope: string;
}

export interface IssuedToken {
  token: string;
  jti: string;
  iat: number;
  exp: number;
  expiresIn: number;
}

/**
 * A token's identity and times, fixed by the caller: a refresh pair handed out again within the
 * reuse grace window is the same pair (same jti, iat, exp), signed once more.
 */
export interface TokenIdentity {
  jti: string;
  iat: number;
  exp: number;
}

/**
 * Tolerated clock skew between this server and whoever minted or checks a token: a token is
 * accepted until exp + this, so a revocation must be kept as long (SessionService.pruneExpired).
 */
export const CLOCK_TOLERANCE_S = 30;

export class TokenSigner {
  constructor(
    private readonly keys: KeyRing,
    readonly settings: TokenSettings,
  ) {}

  private async sign(type: TokenType, claims: JWTPayload, subject: string, ttlSeconds: number, identity?: TokenIdentity): Promise<IssuedToken> {
    await this.keys.refreshIfStale();
    const { kid, alg, key } = this.keys.signingKey();
    const jti = identity?.jti ?? randomUUID();
    const iat = identity?.iat ?? Math.floor(Date.now() / 1000);
    const exp = identity?.exp ?? iat + ttlSeconds;
    const token = await new SignJWT({ ...claims, type })
      .setProtectedHeader({ alg, kid, typ: TYP[type] })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(subject)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key);
    // A pair signed again keeps its times: what is left of its life, not a fresh TTL.
    const expiresIn = identity ? Math.max(0, exp - Math.floor(Date.now() / 1000)) : ttlSeconds;
    return { token, jti, iat, exp, expiresIn };
  }

  issueAccess(subject: AccessSubject, ttlSeconds = this.settings.accessTtlSeconds, identity?: TokenIdentity): Promise<IssuedToken> {
    return this.sign(
      'access',
      { user_id: subject.userId, username: subject.username, role: subject.role, roles: [subject.role], scope: subject.scope },
      subject.userId,
      ttlSeconds,
      identity,
    );
  }

  issueRefresh(userId: string, identity?: TokenIdentity): Promise<IssuedToken> {
    return this.sign('refresh', {}, userId, this.settings.refreshTtlSeconds, identity);
  }

  /**
   * Verifies one of our own tokens: signature by `kid`, pinned algorithm, typ, iss, aud,
   * exp (required), iat not in the future, and the `type` claim. Throws InvalidToken.
   */
  async verify(token: string, type: TokenType): Promise<JWTPayload & { sub: string; jti: string; exp: number }> {
    try {
      let pinned: string[] = [];
      const { payload } = await jwtVerify(
        token,
        async (header: JWTHeaderParameters) => {
          const found = header.kid ? await this.keys.verificationKey(header.kid) : null;
          if (!found) throw new NotAuthenticated();
          pinned = [found.alg];
          if (header.alg !== found.alg) throw new NotAuthenticated();
          return found.key;
        },
        {
          algorithms: ['ES256', 'RS256', 'EdDSA'],
          issuer: this.settings.issuer,
          audience: this.settings.audience,
          typ: TYP[type],
          requiredClaims: ['exp', 'iat', 'jti', 'sub'],
          clockTolerance: CLOCK_TOLERANCE_S,
        },
      );
      const now = Math.floor(Date.now() / 1000);
      if (pinned.length === 0 || payload.type !== type) throw new NotAuthenticated();
      if (typeof payload.iat !== 'number' || payload.iat > now + CLOCK_TOLERANCE_S) throw new NotAuthenticated();
      return payload as JWTPayload & { sub: string; jti: string; exp: number };
    } catch {
      // Whatever failed, the caller learns only that the token is not acceptable.
      throw new InvalidToken();
    }
  }
}
