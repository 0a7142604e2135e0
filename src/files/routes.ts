/** Listing, metadata and deletion of finished files. Thin: parse, call FileService, shape. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { actingUserId } from '../auth/guard.js';
import { deleteFileReply, keyParams, listQuery, listReply, usageQuery, usageReplySchema } from '../contract/files.js';
import { errorResponses, security } from '../http/schemas.js';
import type { FileService } from './file-service.js';
import { fileRecordSchema, publicRecord } from './records.js';
import { usageReply } from './usage.js';

// Request and reply schemas are the wire contract's (src/contract/files.ts), shared with the SDK.

/** What these routes use, and nothing more. */
export interface FileRouteDeps {
  files: Pick<FileService, 'list' | 'usage' | 'getVisible' | 'delete'>;
  /** Records carry download URLs under this base. */
  publicBaseUrl: string;
}

export async function fileRoutes(app: FastifyInstance, deps: FileRouteDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { files, publicBaseUrl: base } = deps;

  r.get(
    '/v1/files/all',
    {
      schema: {
        tags: ['files'],
        summary: "List a user's files, newest first, with totals over every match",
        security: security.any,
        querystring: listQuery,
        response: {
          200: listReply,
          ...errorResponses(400, 401, 403),
        },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => {
      const q = request.query;
      const userId = actingUserId(request.principal!, q.user_id);
      const page = await files.list(userId, { folder: q.folder, recursive: q.recursive !== 'false', limit: q.limit ?? 1000, cursor: q.cursor });
      return {
        files: page.files.map((f) => publicRecord(f, base)),
        total_count: page.totalCount,
        total_size: page.totalSize,
        next_cursor: page.nextCursor,
      };
    },
  );

  r.get(
    '/v1/files/usage',
    {
      schema: {
        tags: ['files'],
        summary: "A user's quota and what counts against it: bytes and files stored, bytes and uploads held open",
        security: security.any,
        querystring: usageQuery,
        response: {
          200: usageReplySchema,
          ...errorResponses(400, 401, 403),
        },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => {
      const u = await files.usage(actingUserId(request.principal!, request.query.user_id));
      return { user_id: u.userId, ...usageReply(u) };
    },
  );

  r.get(
    '/v1/files/metadata/*',
    {
      schema: {
        tags: ['files'],
        summary: 'One file record by key',
        security: security.any,
        params: keyParams,
        response: { 200: fileRecordSchema, ...errorResponses(400, 401, 403, 404) },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => publicRecord(await files.getVisible(request.principal!, request.params['*']), base),
  );

  r.delete(
    '/v1/files/*',
    {
      schema: {
        tags: ['files'],
        summary: 'Delete a file: bytes and record go, quota is freed',
        security: security.any,
        params: keyParams,
        response: { 200: deleteFileReply, ...errorResponses(400, 401, 403, 404) },
      },
      config: { access: { role: 'operator', scope: 'files:delete' } },
    },
    async (request) => {
      const removed = await files.delete(request.principal!, request.params['*']);
      return { deleted: true as const, key: removed.key };
    },
  );
}
