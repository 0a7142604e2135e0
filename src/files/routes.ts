/** File routes (placeholder until the uploads issue lands: listing answers an empty page). */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actingUserId } from '../auth/guard.js';
import { userIdSchema } from '../auth/user-id.js';
import type { AppContext } from '../context.js';
import { errorResponses, security } from '../http/schemas.js';

export async function fileRoutes(app: FastifyInstance, _ctx: AppContext): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/files/all',
    {
      schema: {
        tags: ['files'],
        summary: "List a user's files",
        security: security.any,
        querystring: z.object({ user_id: userIdSchema.optional() }),
        response: {
          200: z.object({ files: z.array(z.any()), total_count: z.number(), total_size: z.number(), next_cursor: z.string().nullable() }),
          ...errorResponses(400, 401, 403),
        },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => {
      actingUserId(request.principal!, request.query.user_id);
      return { files: [], total_count: 0, total_size: 0, next_cursor: null };
    },
  );
}
