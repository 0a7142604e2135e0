/**
 * The issuer's routes: login, refresh, me, logout, and key discovery.
 * Handlers are thin: parse (zod), one call into a service, shape the reply.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../config/config.js';
import { loginBody, loginReply, logoutBody, meReply, messageReply, refreshBody, tokenPair } from '../contract/auth.js';
import { errorResponses, security } from '../http/schemas.js';
import { usageReply } from '../files/usage.js';
import type { KeyRing } from './keyring.js';
import { scopesForRole } from './principal.js';
import type { ProfileService } from './profile.js';
import type { SessionService } from './sessions.js';

// Request and reply schemas are the wire contract's (src/contract/auth.ts), shared with the SDK.

export interface AuthRouteDeps {
  sessions: Pick<SessionService, 'login' | 'refresh' | 'logout'>;
  profiles: Pick<ProfileService, 'describe'>;
  keys: Pick<KeyRing, 'refreshIfStale' | 'jwks'>;
  /** What the discovery document names. */
  discovery: { issuer: string; publicBaseUrl: string; alg: Config['auth']['alg'] };
}

export async function authRoutes(app: FastifyInstance, { sessions, profiles, keys, discovery }: AuthRouteDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for an access and a refresh token',
        body: loginBody,
        response: { 200: loginReply, ...errorResponses(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const { tokens, user } = await sessions.login(request.body.username, request.body.password, request.ip);
      return { ...tokens, user: { id: user.id, username: user.username, email: user.email, role: user.role, roles: [user.role] } };
    },
  );

  r.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token: the presented one is spent, a new pair is issued',
        body: refreshBody,
        response: { 200: tokenPair, ...errorResponses(400, 401) },
      },
    },
    async (request) => sessions.refresh(request.body.refresh_token),
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
        security: security.user,
        body: logoutBody,
        response: { 200: messageReply, ...errorResponses(401, 403) },
      },
      config: { access: { role: 'viewer' } },
    },
    async (request) => {
      await sessions.logout(request.principal!, request.body?.refresh_token);
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
