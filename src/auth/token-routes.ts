/**
 * POST /v1/files/generate-token: a backend service mints an access token for a user of
 * its own (who need not exist in our user table). Parameters come from the query or a JSON
 * body, as the seed clients send them either way. For a user who does exist here, the token
 * never claims more than their current role, and a disabled or deleted user gets none.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { InvalidInput, NotAllowed, nullIfNotFound } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { roleAtLeast, scopesForRole } from './principal.js';
import { userIdSchema } from './user-id.js';
import { roleSchema } from './users.js';

/** Hours as plain decimal notation: "16" or "0.5", never "0x10", "1e1" or " 16" (which Number() takes). */
const hoursSchema = z
  .union([z.number(), z.string().regex(/^[0-9]+(\.[0-9]+)?$/, { message: 'expected decimal digits, e.g. 2 or 0.5' }).transform(Number)])
  .pipe(z.number().positive());

const params = z.object({
  user_id: userIdSchema.optional(),
  expires_hours: hoursSchema.optional(),
  role: roleSchema.optional(),
  scope: z.string().max(512).optional(),
});

export async function tokenRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const maxHours = ctx.config.auth.maxTokenHours;

  r.post(
    '/v1/files/generate-token',
    {
      schema: {
        tags: ['auth'],
        summary: 'Mint an access token for a user (service token only)',
        security: security.service,
        querystring: params,
        body: params.nullish(),
        response: {
          200: z.object({
            token: z.string(),
            token_type: z.literal('bearer'),
            expires_in: z.number().int(),
            expires_at: z.string(),
            user_id: z.string(),
          }),
          ...errorResponses(400, 401, 403),
        },
      },
      config: { access: { role: 'admin', serviceOnly: true } },
    },
    async (request) => {
      const input = { ...request.query, ...(request.body ?? {}) };
      if (!input.user_id) throw new InvalidInput('user_id_required', 'user_id is required');
      const hours = input.expires_hours ?? 1;
      if (hours > maxHours) throw new InvalidInput('expires_hours_too_large', `expires_hours must be at most ${maxHours}`);
      const ttlSeconds = Math.round(hours * 3600);
      if (ttlSeconds < 1) throw new InvalidInput('expires_hours_too_small', 'expires_hours is too small: the token would expire at once');
      // A disabled or deleted user's token would be refused at once: say so instead of minting it.
      if ((await ctx.store.tokens.checkToken('', input.user_id)).userDisabled) {
        throw new NotAllowed('user_disabled', 'That user is disabled or deleted');
      }
      // Only "no such user" means an unknown (external) user; a failed lookup must not mint a
      // token with the default role for a user whose real role is lower: it fails the request.
      const known = await nullIfNotFound(ctx.users.get(input.user_id));
      if (known && input.role && !roleAtLeast(known.role, input.role)) {
        throw new InvalidInput('role_above_user', `role ${input.role} is above the user's role (${known.role})`);
      }
      const role = input.role ?? known?.role ?? 'operator';
      const granted = scopesForRole(role) as string[];
      const scope = input.scope ? input.scope.split(' ').filter(Boolean) : granted;
      const beyond = scope.filter((s) => !granted.includes(s));
      if (beyond.length > 0) throw new InvalidInput('invalid_scope', `scope not allowed for role ${role}: ${beyond.join(' ')}`);
      const issued = await ctx.signer.issueAccess(
        { userId: input.user_id, username: known?.username ?? input.user_id, role, scope: scope.join(' ') },
        ttlSeconds,
      );
      return {
        token: issued.token,
        token_type: 'bearer' as const,
        expires_in: issued.expiresIn,
        expires_at: new Date(issued.exp * 1000).toISOString(),
        user_id: input.user_id,
      };
    },
  );
}
