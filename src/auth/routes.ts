/**
 * The issuer's routes: login, refresh, me, logout, and key discovery.
 * Handlers are thin: parse (zod), one call into a service, shape the reply.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { cookieLoginReply, cookieSessionReply, loginBody, loginReply, logoutBody, meReply, messageReply, refreshBodyOrCookie, tokenPair } from '../contract/auth.js';
import { InvalidToken, NotAllowed, NotAuthenticated } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { usageReply } from '../files/usage.js';
import type { CookieSession } from './cookie-session.js';
import type { Guard } from './guard.js';
import type { KeyRing } from './keyring.js';
import { allows, scopesForRole } from './principal.js';
import type { ProfileService } from './profile.js';
import type { SessionService } from './sessions.js';

// Request and reply schemas are the wire contract's (src/contract/auth.ts), shared with the SDK.

export interface AuthRouteDeps {
  sessions: Pick<SessionService, 'login' | 'refresh' | 'logout' | 'logoutRefresh'>;
  profiles: Pick<ProfileService, 'describe'>;
  keys: Pick<KeyRing, 'refreshIfStale' | 'jwks'>;
  /** The browser session's cookies (`{"session":"cookie"}` at login) and their CSRF rule. */
  cookies: CookieSession;
  /** The guard: its same-origin rule, and who the caller is (logout asks itself, see there). */
  origins: Pick<Guard, 'assertSameOrigin' | 'identify'>;
  /** What the discovery document names. */
  discovery: { issuer: string; publicBaseUrl: string; alg: Config['auth']['alg'] };
}

export async function authRoutes(app: FastifyInstance, { sessions, profiles, keys, cookies, origins: guard, discovery }: AuthRouteDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for an access and a refresh token',
        description: 'With `"session": "cookie"` the tokens are set as HttpOnly cookies (`auth_token`, and `auth_refresh` for /auth/) and the reply carries none.',
        body: loginBody,
        response: { 200: z.union([loginReply, cookieLoginReply]), ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const cookieSession = request.body.session === 'cookie';
      // A cross-site page must not log the browser into an account of its choosing.
      if (cookieSession) guard.assertSameOrigin(request);
      const { tokens, user } = await sessions.login(request.body.username, request.body.password, request.ip);
      const summary = { id: user.id, username: user.username, email: user.email, role: user.role, roles: [user.role] };
      if (cookieSession) return { ...cookies.set(reply, tokens), user: summary };
      return { ...tokens, user: summary };
    },
  );

  r.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token: the presented one is spent, a new pair is issued',
        description: 'Without a `refresh_token` in the body, the `auth_refresh` cookie is used and both cookies are rotated (same-origin requests only).',
        body: refreshBodyOrCookie,
        response: { 200: z.union([tokenPair, cookieSessionReply]), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const given = request.body?.refresh_token;
      if (given) return sessions.refresh(given);
      const fromCookie = cookies.refreshToken(request);
      if (!fromCookie) throw new NotAuthenticated('A refresh token is required (body or cookie)');
      guard.assertSameOrigin(request);
      try {
        return cookies.set(reply, await sessions.refresh(fromCookie));
      } catch (err) {
        // A spent, revoked or expired session: the browser stops sending dead cookies.
        if (err instanceof InvalidToken) cookies.clear(reply);
        throw err;
      }
    },
  );

  r.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The user the access token belongs to',
        security: security.user,
        response: {
          200: meReply,
          ...errorResponses(401, 403),
        },
      },
      config: { access: { role: 'viewer' } },
    },
    async (request) => {
      const me = await profiles.describe(request.principal!);
      return {
        id: me.id,
        username: me.username,
        email: me.email,
        role: me.role,
        roles: [me.role],
        scopes: me.scopes,
        is_active: me.isActive,
        ...usageReply(me.usage),
      };
    },
  );

  r.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke this access token and its refresh family',
        description:
          'Also expires the session cookies; the `auth_refresh` cookie, if sent, has its family revoked too. A browser whose access cookie has lapsed may log out with the refresh cookie alone.',
        security: security.user,
        body: logoutBody,
        response: { 200: messageReply, ...errorResponses(401, 403) },
      },
      // No access rule: the guard is asked here, so that the refresh cookie alone can end a
      // browser session whose access cookie lapsed (the browser dropped it at its Max-Age).
    },
    async (request, reply) => {
      const refreshCookie = cookies.refreshToken(request);
      const explicit = request.headers.authorization !== undefined || request.headers['x-service-token'] !== undefined;
      const principal = await guard.identify(request).catch((err: unknown) => {
        // A lapsed access cookie beside a refresh cookie: log out by the latter.
        if (err instanceof InvalidToken && !explicit && refreshCookie) return null;
        throw err;
      });
      if (principal) {
        if (!allows(principal, { role: 'viewer' })) throw new NotAllowed('insufficient_scope', 'Insufficient role or scope');
        await sessions.logout(principal, request.body?.refresh_token ?? refreshCookie);
      } else if (refreshCookie) {
        guard.assertSameOrigin(request);
        await sessions.logoutRefresh(refreshCookie);
      } else {
        throw new NotAuthenticated();
      }
      cookies.clear(reply);
      return { message: 'Logged out' };
    },
  );

  r.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['auth'], summary: 'Public signing keys (JWKS)' } },
    async (_request, reply) => {
      void reply.header('Cache-Control', 'public, max-age=300');
      await keys.refreshIfStale();
      return keys.jwks();
    },
  );

  r.get(
    '/.well-known/openid-configuration',
    { schema: { tags: ['auth'], summary: 'Discovery document for stock JWKS clients' } },
    async (_request, reply) => {
      const base = discovery.publicBaseUrl;
      void reply.header('Cache-Control', 'public, max-age=300');
      return {
        issuer: discovery.issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        token_endpoint: `${base}/auth/login`,
        userinfo_endpoint: `${base}/auth/me`,
        id_token_signing_alg_values_supported: [discovery.alg],
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: scopesForRole('admin'),
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
      };
    },
  );
}
