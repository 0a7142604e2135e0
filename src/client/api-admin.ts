/** User management (/v1/admin/users: admin token with users:admin, or the service token), service-minted tokens and webhook deliveries. */
import type { AdminUser, CreateUserBody, GenerateTokenParams, GenerateTokenReply, UpdateUserBody } from '../contract/auth.js';
import type { EventListQuery, EventListReply, WebhookDelivery } from '../contract/events.js';
import type { Transport } from './transport.js';

type Opts = { signal?: AbortSignal };
/** The query of GET /v1/admin/events; `limit` 1–1000 (default 100) as a number (the contract's input also takes a string). */
export type EventsQuery = Omit<EventListQuery, 'limit'> & { limit?: number };

export class AdminApi {
  constructor(private readonly t: Transport) {}

  /** POST /v1/admin/users. 409 username_taken. */
  createUser(body: CreateUserBody, opts: Opts = {}): Promise<AdminUser> {
    return this.t.json<AdminUser>({ method: 'POST', path: '/v1/admin/users', json: body, signal: opts.signal });
  }

  /** GET /v1/admin/users. */
  async listUsers(opts: Opts = {}): Promise<AdminUser[]> {
    return (await this.t.json<{ users: AdminUser[] }>({ path: '/v1/admin/users', signal: opts.signal })).users;
  }

  /** GET /v1/admin/users/{id}. 404 user_not_found. */
  getUser(id: string, opts: Opts = {}): Promise<AdminUser> {
    return this.t.json<AdminUser>({ path: `/v1/admin/users/${encodeURIComponent(id)}`, signal: opts.signal });
  }

  /** PATCH /v1/admin/users/{id}: role, password, is_active, quota_gb, email. */
  updateUser(id: string, body: UpdateUserBody, opts: Opts = {}): Promise<AdminUser> {
    return this.t.json<AdminUser>({ method: 'PATCH', path: `/v1/admin/users/${encodeURIComponent(id)}`, json: body, signal: opts.signal });
  }

  /** DELETE /v1/admin/users/{id}: their tokens stop working. */
  async deleteUser(id: string, opts: Opts = {}): Promise<void> {
    await this.t.json({ method: 'DELETE', path: `/v1/admin/users/${encodeURIComponent(id)}`, signal: opts.signal });
  }

  /** POST /v1/files/generate-token (service token only): an access token for one of the service's users. */
  generateToken(params: GenerateTokenParams, opts: Opts = {}): Promise<GenerateTokenReply> {
    return this.t.json<GenerateTokenReply>({ method: 'POST', path: '/v1/files/generate-token', json: params, signal: opts.signal });
  }

  /** GET /v1/admin/events: one page of webhook deliveries, newest first; `status` filters, `cursor` is the previous page's `next_cursor`. */
  listEvents(query: EventsQuery = {}, opts: Opts = {}): Promise<EventListReply> {
    return this.t.json<EventListReply>({ path: '/v1/admin/events', query: { status: query.status, limit: query.limit, cursor: query.cursor }, signal: opts.signal });
  }

  /** Every delivery from `query.cursor` on, page after page: `for await (const d of sl.admin.allEvents({ status: 'failed' }))`. */
  async *allEvents(query: EventsQuery = {}, opts: Opts = {}): AsyncGenerator<WebhookDelivery, void, undefined> {
    let cursor = query.cursor;
    do {
      const page = await this.listEvents({ ...query, cursor }, opts);
      yield* page.deliveries;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }
}
