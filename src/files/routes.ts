/** Listing, metadata and deletion of finished files; folders and moves. Thin: parse, call a service, shape. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { actingUserId } from '../auth/guard.js';
import { deleteFileReply, keyParams, listQuery, listReply, usageQuery, usageReplySchema } from '../contract/files.js';
import { deleteFolderQuery, deleteFolderReply, foldersQuery, foldersReply, moveBody, moveReply } from '../contract/folders.js';
import { folderSchema } from '../contract/names.js';
import { InvalidInput } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import type { FileService } from './file-service.js';
import type { FolderService } from './folders.js';
import type { MoveService } from './move-service.js';
import { fileRecordSchema, publicRecord } from './records.js';
import { usageReply } from './usage.js';

// Request and reply schemas are the wire contract's (src/contract/files.ts), shared with the SDK.

/** What these routes use, and nothing more. */
export interface FileRouteDeps {
  files: Pick<FileService, 'list' | 'usage' | 'getVisible' | 'delete'>;
  folders: Pick<FolderService, 'list' | 'delete'>;
  moves: Pick<MoveService, 'moveFile' | 'moveFolder'>;
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
        summary: "List a user's files, newest first or sorted by name or size, optionally filtered by name, with totals over every match",
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
      const page = await files.list(userId, { folder: q.folder, recursive: q.recursive !== 'false', limit: q.limit ?? 1000, cursor: q.cursor, sort: q.sort, order: q.order, q: q.q });
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

  r.get(
    '/v1/files/folders',
    {
      schema: {
        tags: ['files'],
        summary: 'The direct sub-folders of a folder (the root when empty), with the count and bytes of the files under each',
        security: security.any,
        querystring: foldersQuery,
        response: { 200: foldersReply, ...errorResponses(400, 401, 403) },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => {
      const q = request.query;
      const found = await deps.folders.list(actingUserId(request.principal!, q.user_id), q.folder ?? '');
      return { folders: found.map((f) => ({ name: f.name, path: f.path, file_count: f.fileCount, total_size: f.totalSize })) };
    },
  );

  r.post(
    '/v1/files/move',
    {
      schema: {
        tags: ['files'],
        summary: 'Move a file (a key) to a new name or folder, or a folder to a new path; a name taken there → 409, nothing moved',
        security: security.any,
        body: moveBody,
        response: { 200: moveReply, ...errorResponses(400, 401, 403, 404, 409) },
      },
      config: { access: { role: 'operator', scope: 'files:write' } },
    },
    async (request) => {
      const { from, to, user_id } = request.body;
      const principal = request.principal!;
      if (from.startsWith('storage/')) return { moved: await deps.moves.moveFile(principal, from, to) };
      const folder = folderSchema.safeParse(from);
      if (!folder.success) throw new InvalidInput('invalid_move', `body.from: neither a key nor a folder path (${folder.error.issues[0]!.message})`);
      const target = to === '' ? to : folderSchema.safeParse(to).success ? to : null;
      if (target === null) throw new InvalidInput('validation_error', 'body.to: not a folder path');
      return { moved: await deps.moves.moveFolder(actingUserId(principal, user_id), from, target) };
    },
  );

  r.delete(
    '/v1/files/folder',
    {
      schema: {
        tags: ['files'],
        summary: 'Delete everything under a folder: records, bytes, quota freed',
        security: security.any,
        querystring: deleteFolderQuery,
        response: { 200: deleteFolderReply, ...errorResponses(400, 401, 403) },
      },
      config: { access: { role: 'operator', scope: 'files:delete' } },
    },
    async (request) => {
      const q = request.query;
      const r = await deps.folders.delete(actingUserId(request.principal!, q.user_id), q.folder);
      return { deleted: r.deleted, freed_bytes: r.freedBytes };
    },
  );
}
