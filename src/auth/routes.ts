/**
 * The issuer's routes: login, refresh, me, logout, and key discovery.
 * Handlers are thin: parse (zod), call the session service, shape the reply.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { NotAllowed, NotAuthenticated, nullIfNotFound } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { usageFields, usageReply } from '../files/usage.js';
import { scopesForRole, type Role } from './principal.js';
import { LoginThrottle } from './throttle.js';

const tokenPair = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
});

const userSummary = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  role: z.string(),
  roles: z.array(z.string()),
});

export async function authRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const throttle = new LoginThrottle({ failuresPerWindow: ctx.config.auth.loginRateLimitPerMinute });

  r.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for an access and a refresh token',
        body: z.object({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) }),
        response: { 200: tokenPair.extend({ user: userSummary }), ...errorResponses(400, 401, 429, 503) },
      },
    },
    async (request) => {
      // Only failures count (per address, per username+address); a success is taken back.
      const attempt = throttle.begin(request.body.username, request.ip);
      if (attempt.delayMs > 0) await sleep(attempt.delayMs);
      try {
        const { tokens, user } = await ctx.sessions.login(request.body.username, request.body.password);
        attempt.succeeded();
        return { ...tokens, user: { id: user.id, username: user.username, email: user.email, role: user.role, roles: [user.role] } };
      } catch (err) {
        if (err instanceof NotAuthenticated) attempt.failed(); // invalid_credentials
        else attempt.abandoned(); // e.g. 503 login_busy: no password was checked
        throw err;
      }
    },
  );

  r.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token: the presented one is spent, a new pair is issued',
        body: z.object({ refresh_token: z.string().min(1).max(8192) }),
        response: { 200: tokenPair, ...errorResponses(400, 401) },
      },
    },
    async (request) => ctx.sessions.refresh(request.body.refresh_token),
  );

  r.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The user the access token belongs to',
        security: security.user,
        response: {
          200: userSummary.extend({ scopes: z.array(z.string()), is_active: z.boolean(), ...usageFields }),
          ...errorResponses(401, 403),
        },
      },
      config: { access: { role: 'viewer' } },
    },
    async (request) => {
      const p = request.principal!;
      if (p.kind !== 'user') throw new NotAllowed('not_a_user', '/auth/me describes a user token, not a service');
      const [user, usage] = await Promise.all([nullIfNotFound(ctx.users.get(p.userId!)), ctx.files.usage(p.userId!)]);
      const role: Role = p.role;
      return {
        id: p.userId!,
        username: user?.username ?? p.username ?? p.userId!,
        email: user?.email ?? null,
        role,
        roles: [role],
        scopes: p.scopes,
        is_active: user?.isActive ?? true,
        ...usageReply(usage),
      };
    },
  );

  r.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke this access token and its refresh family',
        security: security.user,
        body: z.object({ refresh_token: z.string().max(8192).optional() }).nullish(),
        response: { 200: z.object({ message: z.string() }), ...errorResponses(401, 403) },
      },
      config: { access: { role: 'viewer' } },
    },
    async (request) => {
      await ctx.sessions.logout(request.principal!, request.body?.refresh_token);
      return { message: 'Logged out' };
    },
  );

  r.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['auth'], summary: 'Public signing keys (JWKS)' } },
    async (_request, reply) => {
      void reply.header('Cache-Control', 'public, max-age=300');
      await ctx.keys.refreshIfStale();
      return ctx.keys.jwks();
    },
  );

  r.get(
    '/.well-known/openid-configuration',
    { schema: { tags: ['auth'], summary: 'Discovery document for stock JWKS clients' } },
    async (_request, reply) => {
      const base = ctx.config.publicBaseUrl;
      void reply.header('Cache-Control', 'public, max-age=300');
      return {
        issuer: ctx.config.auth.issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        token_endpoint: `${base}/auth/login`,
        userinfo_endpoint: `${base}/auth/me`,
        id_token_signing_alg_values_supported: [ctx.config.auth.alg],
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: scopesForRole('admin'),
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
      };
    },
  );
}
