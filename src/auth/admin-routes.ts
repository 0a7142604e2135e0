/** User management over HTTP (admin JWT with users:admin, or the service token). */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { adminUserSchema as userSchema, createUserBody, deleteUserReply, updateUserBody, userIdParams as idParams, userListReply } from '../contract/auth.js';
import { errorResponses, security as SECURITY } from '../http/schemas.js';
import type { AccessRule } from './principal.js';
import { publicUser, type UserService } from './users.js';

// Request and reply schemas are the wire contract's (src/contract/auth.ts), shared with the SDK.
const ADMIN: AccessRule = { role: 'admin', scope: 'users:admin' };
const security = SECURITY.admin;

export interface AdminRouteDeps {
  users: Pick<UserService, 'create' | 'list' | 'get' | 'update' | 'remove'>;
}

export async function adminRoutes(app: FastifyInstance, { users }: AdminRouteDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/admin/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a user',
        security,
        body: createUserBody,
        response: { 201: userSchema, ...errorResponses(400, 401, 403, 409) },
      },
      config: { access: ADMIN },
    },
    async (request, reply) => {
      const user = await users.create(request.body);
      return reply.code(201).send(publicUser(user));
    },
  );

  r.get(
    '/v1/admin/users',
    {
      schema: { tags: ['admin'], summary: 'List users', security, response: { 200: userListReply, ...errorResponses(401, 403) } },
      config: { access: ADMIN },
    },
    async () => ({ users: (await users.list()).map(publicUser) }),
  );

  r.get(
    '/v1/admin/users/:id',
    {
      schema: { tags: ['admin'], summary: 'One user', security, params: idParams, response: { 200: userSchema, ...errorResponses(401, 403, 404) } },
      config: { access: ADMIN },
    },
    async (request) => publicUser(await users.get(request.params.id)),
  );

  r.patch(
    '/v1/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Change role, password, active flag or quota',
        security,
        params: idParams,
        body: updateUserBody,
        response: { 200: userSchema, ...errorResponses(400, 401, 403, 404) },
      },
      config: { access: ADMIN },
    },
    async (request) => publicUser(await users.update(request.params.id, request.body)),
  );

  r.delete(
    '/v1/admin/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Delete a user (their tokens stop working)',
        security,
        params: idParams,
        response: { 200: deleteUserReply, ...errorResponses(401, 403, 404) },
      },
      config: { access: ADMIN },
    },
    async (request) => {
      await users.remove(request.params.id);
      return { deleted: true as const, id: request.params.id };
    },
  );
}
