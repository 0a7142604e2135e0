/**
 * Minting for backend services (POST /v1/files/generate-token): a service mints an access
 * token for a user of its own, who need not exist in our user table. All of the minting
 * policy lives here, callable without HTTP: for a user who does exist, the token never claims
 * more than their current role, and a disabled or deleted user gets none.
 */
import type { TokenStore } from '../db/types.js';
import { InvalidInput, NotAllowed, nullIfNotFound } from '../errors/index.js';
import { roleAtLeast, scopesForRole, type Role } from './principal.js';
import type { TokenSigner } from './tokens.js';
import type { UserService } from './users.js';

export interface ServiceMintRequest {
  userId?: string;
  /** Lifetime in hours (default 1, at most maxTokenHours). */
  expiresHours?: number;
  /** At most the user's role when the user exists; default: theirs, else operator. */
  role?: Role;
  /** Space-separated scopes, within those of the role; default: all of them. */
  scope?: string;
}

export interface ServiceToken {
  token: string;
  userId: string;
  /** Seconds the token lives. */
  expiresIn: number;
  /** Unix seconds. */
  exp: number;
}

export interface TokenIssuerOptions {
  /** AUTH_MAX_TOKEN_HOURS: the longest lifetime a service may ask for. */
  maxTokenHours: number;
}

export class TokenIssuer {
  constructor(
    private readonly signer: Pick<TokenSigner, 'issueAccess'>,
    private readonly users: Pick<UserService, 'get'>,
    private readonly tokens: Pick<TokenStore, 'checkToken'>,
    private readonly opts: TokenIssuerOptions,
  ) {}

  async mintForService(req: ServiceMintRequest): Promise<ServiceToken> {
    const userId = req.userId;
    if (!userId) throw new InvalidInput('user_id_required', 'user_id is required');
    const ttlSeconds = this.lifetime(req.expiresHours ?? 1);
    // A disabled or deleted user's token would be refused at once: say so instead of minting it.
    if ((await this.tokens.checkToken('', userId)).userDisabled) {
      throw new NotAllowed('user_disabled', 'That user is disabled or deleted');
    }
    // Only "no such user" means an unknown (external) user; a failed lookup must not mint a
    // token with the default role for a user whose real role is lower: it fails the request.
    const known = await nullIfNotFound(this.users.get(userId));
    if (known && req.role && !roleAtLeast(known.role, req.role)) {
      throw new InvalidInput('role_above_user', `role ${req.role} is above the user's role (${known.role})`);
    }
    const role = req.role ?? known?.role ?? 'operator';
    const scope = this.scopeWithin(role, req.scope);
    const issued = await this.signer.issueAccess({ userId, username: known?.username ?? userId, role, scope }, ttlSeconds);
    return { token: issued.token, userId, expiresIn: issued.expiresIn, exp: issued.exp };
  }

  private lifetime(hours: number): number {
    const max = this.opts.maxTokenHours;
    if (hours > max) throw new InvalidInput('expires_hours_too_large', `expires_hours must be at most ${max}`);
    const seconds = Math.round(hours * 3600);
    if (seconds < 1) throw new InvalidInput('expires_hours_too_small', 'expires_hours is too small: the token would expire at once');
    return seconds;
  }

  /** The asked scopes, all within the role's; none asked: all of the role's. */
  private scopeWithin(role: Role, asked: string | undefined): string {
    const granted = scopesForRole(role) as string[];
    const scope = asked ? asked.split(' ').filter(Boolean) : granted;
    const beyond = scope.filter((s) => !granted.includes(s));
    if (beyond.length > 0) throw new InvalidInput('invalid_scope', `scope not allowed for role ${role}: ${beyond.join(' ')}`);
    return scope.join(' ');
  }
}
