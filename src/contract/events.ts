/** Webhook deliveries as GET /v1/admin/events lists them (admin or service). */
import { z } from 'zod';

export const deliveryStatusSchema = z.enum(['pending', 'retrying', 'delivered', 'failed']);

export const eventListQuery = z.object({
  /** pending: not tried yet; retrying: failed, to be tried again; delivered; failed: given up after 24 h. */
  status: deliveryStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  /** next_cursor of the previous page. */
  cursor: z.string().regex(/^\d{1,16}$/, { message: 'expected a cursor this server issued' }).optional(),
});

export const deliverySchema = z.object({
  /** The event's id (the webhook-id header), the same for each URL and every retry. */
  id: z.string(),
  type: z.string(),
  url: z.string(),
  user_id: z.string(),
  status: deliveryStatusSchema,
  attempts: z.number().int(),
  created_at: z.string(),
  next_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  last_error: z.string().nullable(),
  delivered_at: z.string().nullable(),
  /** The body sent: {"type","id","created_at","data"}. */
  payload: z.unknown(),
});

export const eventListReply = z.object({
  deliveries: z.array(deliverySchema),
  next_cursor: z.string().nullable(),
});

export type DeliveryStatus = z.infer<typeof deliveryStatusSchema>;
export type EventListQuery = z.input<typeof eventListQuery>;
export type EventListReply = z.infer<typeof eventListReply>;
export type WebhookDelivery = z.infer<typeof deliverySchema>;
