/**
 * The guard: one hook that turns `X-Service-Token`, `Authorization: Bearer` or the
 * `auth_token` cookie into a Principal, and checks it against the rule the route declares
 * in its config (`config: { access: { role: 'viewer', scope: 'files:read' } }`).
 * No or bad credentials → 401; valid credentials without the needed role/scope → 403.
 * Tokens are never read from the query string.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { InvalidInput, NotAuthenticated, InvalidToken, NotAllowed } from '../errors/index.js';
import { allows, SERVICE_PRINCIPAL, type AccessRule, type Principal } from './principal.js';
import type { AccessVerifier, AuthFailureListener } from './verifier.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Omitted → public route. */
    access?: AccessRule;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Equal-length digests, so a wrong length is a plain mismatch rather than an exception. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface GuardOptions {
  serviceToken: string;
  verifier: AccessVerifier;
  /** Origins allowed to make cookie-authenticated unsafe requests besides our own. */
  trustedOrigins: string[];
  publicBaseUrl: string;
  onFailure?: AuthFailureListener;
}

export class Guard {
  private readonly ownOrigin: string;

  constructor(private readonly opts: GuardOptions) {
    this.ownOrigin = new URL(opts.publicBaseUrl).origin;
  }

  /** The caller's principal, or null when no credentials were sent. Throws 401 on bad ones. */
  async identify(request: FastifyRequest): Promise<Principal | null> {
    const service = request.headers['x-service-token'];
    if (service !== undefined) {
      if (typeof service === 'string' && secretsEqual(service, this.opts.serviceToken)) return SERVICE_PRINCIPAL;
      this.opts.onFailure?.('invalid');
      throw new InvalidToken();
    }
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
      if (!match) {
        this.opts.onFailure?.('malformed');
        throw new InvalidToken();
      }
      return this.opts.verifier.principalFor(match[1]!);
    }
    const cookieHeader = request.headers.cookie;
    const cookieToken = cookieHeader ? parseCookie(cookieHeader).auth_token : undefined;
    if (cookieToken) {
      const principal = await this.opts.verifier.principalFor(cookieToken);
      this.assertSameOrigin(request);
      return principal;
    }
    return null;
  }

  /**
   * Cookies ride along on cross-site requests: unsafe ones must come from a trusted origin.
   * Also called by the cookie-session routes (login, refresh), which read cookies themselves.
   */
  assertSameOrigin(request: FastifyRequest): void {
    if (!UNSAFE.has(request.method)) return;
    const origin = request.headers.origin;
    if (typeof origin === 'string') {
      if (origin === this.ownOrigin || this.opts.trustedOrigins.includes(origin)) return;
      throw new NotAllowed('csrf_rejected', 'Cross-origin request refused');
    }
    const site = request.headers['sec-fetch-site'];
    if (site === 'same-origin' || site === 'none') return;
    throw new NotAllowed('csrf_rejected', 'Cookie-authenticated requests must be same-origin');
  }

  /** Identifies the caller and enforces `rule`; returns the principal. */
  async require(request: FastifyRequest, rule: AccessRule): Promise<Principal> {
    const principal = await this.identify(request);
    if (!principal) throw new NotAuthenticated();
    if (!allows(principal, rule)) throw new NotAllowed('insufficient_scope', 'Insufficient role or scope');
    return principal;
  }
}

/** Registers the hook; routes opt in by declaring `config.access`. */
export const guardPlugin = fp(async (app: FastifyInstance, opts: { guard: Guard }) => {
  app.decorateRequest('principal', null);
  // A callback hook: the many requests to routes without a rule (downloads check their own)
  // pass without a promise and a microtask each.
  app.addHook('onRequest', (request, _reply, done) => {
    const rule = request.routeOptions.config?.access;
    if (!rule) return done();
    opts.guard.require(request, rule).then((principal) => {
      request.principal = principal;
      done();
    }, done);
  });
});

/**
 * The user a request acts for. A user acts for themselves (an admin may name anyone);
 * a service must name the user. Naming someone else without being an admin → 403.
 */
export function actingUserId(principal: Principal, requested: string | undefined): string {
  if (principal.kind === 'service') {
    if (!requested) throw new InvalidInput('user_id_required', 'user_id is required when calling with a service token');
    return requested;
  }
  if (!requested || requested === principal.userId) return principal.userId!;
  if (principal.role === 'admin') return requested;
  throw new NotAllowed('forbidden_user', 'You may only act on your own files');
}
