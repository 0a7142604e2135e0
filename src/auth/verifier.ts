/**
 * Bearer/cookie token → Principal. Signatures are verified once per token and the claims
 * cached until the token's `exp` (that is what keeps the guard cheap); revocation of the
 * `jti` and the user's `is_active` are still checked against the store on every request,
 * so logout and disabling a user take effect on the very next request.
 */
import { decodeProtectedHeader } from 'jose';
import type { TokenStore } from '../db/types.js';
import { UnauthorizedError } from '../http/errors.js';
import type { ExternalVerify } from './external.js';
import type { KeyRing } from './keyring.js';
import { isRole, scopesForRole, type Principal, type Role } from './principal.js';
import type { TokenSigner } from './tokens.js';
import { isValidUserId } from './user-id.js';

const CACHE_LIMIT = 10_000;
const MAX_TOKEN_LENGTH = 8192;

interface Verified {
  userId: string;
  username: string;
  role: Role;
  scopes: string[];
  jti: string | null;
  exp: number;
  source: 'local' | 'external';
}

export type AuthFailureReason = 'malformed' | 'invalid' | 'revoked' | 'disabled';
export type AuthFailureListener = (reason: AuthFailureReason) => void;

function scopesFrom(claims: Record<string, unknown>, role: Role): string[] {
  const allowed = scopesForRole(role);
  const raw = typeof claims.scope === 'string' ? claims.scope.split(' ') : Array.isArray(claims.scopes) ? claims.scopes : null;
  if (!raw) return allowed;
  return raw.filter((s): s is string => typeof s === 'string' && (allowed as string[]).includes(s));
}

export class AccessVerifier {
  private readonly cache = new Map<string, Verified>();

  constructor(
    private readonly signer: TokenSigner,
    private readonly keys: KeyRing,
    private readonly store: TokenStore,
    private readonly external: ExternalVerify | null,
    private readonly onFailure: AuthFailureListener = () => {},
  ) {}

  async principalFor(token: string): Promise<Principal> {
    const verified = await this.verifiedClaims(token);
    // Every token, ours or external, with or without a jti: a disabled or deleted local user is out.
    const status = await this.store.checkToken(verified.jti ?? '', verified.userId);
    if (status.revoked) return this.fail('revoked');
    if (status.userDisabled) return this.fail('disabled');
    return {
      kind: 'user',
      userId: verified.userId,
      username: verified.username,
      role: verified.role,
      scopes: verified.scopes,
      token: { jti: verified.jti, exp: verified.exp, source: verified.source },
    };
  }

  private fail(reason: AuthFailureReason): never {
    this.onFailure(reason);
    throw new UnauthorizedError('Invalid or expired token', 'invalid_token');
  }

  private async verifiedClaims(token: string): Promise<Verified> {
    const now = Math.floor(Date.now() / 1000);
    const hit = this.cache.get(token);
    if (hit && hit.exp > now) return hit;
    if (hit) this.cache.delete(token);
    if (token.length > MAX_TOKEN_LENGTH) return this.fail('malformed');

    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return this.fail('malformed');
    }
    const ours = kid !== undefined && (await this.keys.verificationKey(kid)) !== null;
    const verified = ours || !this.external ? await this.verifyLocal(token) : await this.verifyExternal(token);
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, verified);
    return verified;
  }

  private async verifyLocal(token: string): Promise<Verified> {
    let claims;
    try {
      claims = await this.signer.verify(token, 'access');
    } catch {
      return this.fail('invalid');
    }
    if (!isValidUserId(claims.sub) || !isRole(claims.role)) return this.fail('invalid');
    return {
      userId: claims.sub,
      username: typeof claims.username === 'string' ? claims.username : claims.sub,
      role: claims.role,
      scopes: scopesFrom(claims, claims.role),
      jti: claims.jti,
      exp: claims.exp,
      source: 'local',
    };
  }

  private async verifyExternal(token: string): Promise<Verified> {
    let claims;
    try {
      claims = await this.external!(token);
    } catch {
      return this.fail('invalid');
    }
    const userId = typeof claims.sub === 'string' ? claims.sub : claims.user_id;
    if (!isValidUserId(userId)) return this.fail('invalid');
    const role: Role = isRole(claims.role) ? claims.role : 'operator';
    return {
      userId,
      username: typeof claims.username === 'string' ? claims.username : userId,
      role,
      scopes: scopesFrom(claims, role),
      jti: typeof claims.jti === 'string' ? claims.jti : null,
      exp: claims.exp!,
      source: 'external',
    };
  }
}
