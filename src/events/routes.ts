/** GET /v1/admin/events: the webhook deliveries, newest first (admin JWT or the service token). */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AccessRule } from '../auth/principal.js';
import { eventListQuery, eventListReply, type WebhookDelivery } from '../contract/events.js';
import type { Delivery, OutboxStore } from '../db/types.js';
import { errorResponses, security } from '../http/schemas.js';

const ADMIN: AccessRule = { role: 'admin', scope: 'users:admin' };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function publicDelivery(d: Delivery): WebhookDelivery {
  return {
    id: d.eventId,
    type: d.type,
    url: d.url,
    user_id: d.userId,
    status: d.status,
    attempts: d.attempts,
    created_at: iso(d.createdAt)!,
    next_attempt_at: d.status === 'pending' || d.status === 'retrying' ? iso(d.nextAttemptAt) : null,
    last_attempt_at: iso(d.lastAttemptAt),
    last_error: d.lastError,
    delivered_at: iso(d.deliveredAt),
    payload: JSON.parse(d.payload) as unknown,
  };
}

export async function eventRoutes(app: FastifyInstance, deps: { outbox: Pick<OutboxStore, 'list'> }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/admin/events',
    {
      schema: {
        tags: ['admin'],
        summary: 'Webhook deliveries, newest first (?status=failed: those given up)',
        security: security.admin,
        querystring: eventListQuery,
        response: { 200: eventListReply, ...errorResponses(400, 401, 403) },
      },
      config: { access: ADMIN },
    },
    async (request) => {
      const limit = request.query.limit ?? 100;
      const rows = await deps.outbox.list({ status: request.query.status, limit: limit + 1, beforeSeq: request.query.cursor ? Number(request.query.cursor) : undefined });
      const page = rows.slice(0, limit);
      return { deliveries: page.map(publicDelivery), next_cursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null };
    },
  );
}
