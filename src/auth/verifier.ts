/**
 * Bearer/cookie token → Principal. Signatures are verified once per token and the claims
 * cached until the token's `exp` (that is what keeps the guard cheap); revocation of the
 * `jti`, the user's `is_active` and the user's current role are still checked against the
 * store on every request (one query), so logout, disabling and demoting a user take effect on
 * the very next request, whoever minted the token.
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import type { TokenStore } from '../db/types.js';
import { InvalidToken } from '../errors/index.js';
import type { ExternalVerify } from './external.js';
import type { KeyRing } from './keyring.js';
import { isRole, lowerRole, scopesForRole, type Principal, type Role } from './principal.js';
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
  revocationId: string;
  exp: number;
  source: 'local' | 'external';
}

export interface VerifierOptions {
  /** AUTH_JWT_EXTERNAL_TRUST_ROLES: external role claims above operator are taken as they are. */
  trustExternalRoles: boolean;
}

export type AuthFailureReason = 'malformed' | 'invalid' | 'revoked' | 'disabled';
export type AuthFailureListener = (reason: AuthFailureReason) => void;

function scopesFrom(claims: Record<string, unknown>, role: Role): string[] {
  const allowed = scopesForRole(role);
  const raw = typeof claims.scope === 'string' ? claims.scope.split(' ') : Array.isArray(claims.scopes) ? claims.scopes : null;
  if (!raw) return allowed;
  return raw.filter((s): s is string => typeof s === 'string' && (allowed as string[]).includes(s));
}

/**
 * Identifies a token that has no jti, so that logout can still revoke it (refusing the logout
 * would leave the token alive while the client believes it is gone). The digest is over the
 * decoded claims, not the token text: a re-encoded signature (another valid ECDSA signature)
 * or a re-encoded payload segment of the same claims is the same token and stays revoked.
 */
function claimsDigest(token: string): string {
  const payload = Buffer.from(token.split('.')[1] ?? '', 'base64url');
  return `sha256:${createHash('sha256').update(payload).digest('hex')}`;
}

export class AccessVerifier {
  private readonly cache = new Map<string, Verified>();

  constructor(
    private readonly signer: TokenSigner,
    private readonly keys: KeyRing,
    private readonly store: TokenStore,
    private readonly external: ExternalVerify | null,
    private readonly onFailure: AuthFailureListener = () => {},
    private readonly opts: VerifierOptions = { trustExternalRoles: false },
  ) {}

  async principalFor(token: string): Promise<Principal> {
    const verified = await this.verifiedClaims(token);
    // Every token, ours or external, with or without a jti: a disabled or deleted local user is out.
    const status = await this.store.checkToken(verified.revocationId, verified.userId);
    if (status.revoked) return this.fail('revoked');
    if (status.userDisabled) return this.fail('disabled');
    // A user who exists here never acts above their current role, whatever the token says
    // (a demotion reaches service-minted and external tokens too). Users we do not manage
    // (role null) keep the role they were minted with.
    const role = status.role ? lowerRole(verified.role, status.role) : verified.role;
    const allowed = scopesForRole(role) as string[];
    return {
      kind: 'user',
      userId: verified.userId,
      username: verified.username,
      role,
      scopes: verified.scopes.filter((s) => allowed.includes(s)),
      token: { jti: verified.jti, revocationId: verified.revocationId, exp: verified.exp, source: verified.source },
    };
  }

  private fail(reason: AuthFailureReason): never {
    this.onFailure(reason);
    throw new InvalidToken();
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
      revocationId: claims.jti,
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
    // Another issuer may not grant admin here unless configured to (AUTH_JWT_EXTERNAL_TRUST_ROLES).
    const claimed: Role = isRole(claims.role) ? claims.role : 'operator';
    const role = this.opts.trustExternalRoles ? claimed : lowerRole(claimed, 'operator');
    const jti = typeof claims.jti === 'string' && claims.jti !== '' ? claims.jti : null;
    return {
      userId,
      username: typeof claims.username === 'string' ? claims.username : userId,
      role,
      scopes: scopesFrom(claims, role),
      jti,
      revocationId: jti ?? claimsDigest(token),
      exp: claims.exp!,
      source: 'external',
    };
  }
}
