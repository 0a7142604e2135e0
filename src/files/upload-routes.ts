/**
 * The upload protocol's routes: init, part (raw or multipart), status, abort, complete, and
 * the one-request multipart upload. Byte-carrying routes live in a scope whose only body
 * parsers are a raw pass-through and @fastify/multipart, so bodies stream and never buffer.
 */
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { actingUserId } from '../auth/guard.js';
import type { AccessRule } from '../auth/principal.js';
import {
  abortReply,
  completeBody,
  initBody,
  initQuery,
  initReply,
  oneRequestQuery,
  oneRequestReply,
  partLocator,
  partQuery,
  partReply,
  uploadParams,
  uploadStatusReply,
} from '../contract/uploads.js';
import type { AppContext } from '../context.js';
import { InvalidInput } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { expectedDigests } from './checksums.js';
import { fileRecordSchema, publicRecord } from './records.js';
import { DEFAULT_PART_SIZE } from './upload-service.js';

// Request and reply schemas are the wire contract's (src/contract/uploads.ts), shared with the SDK.
const WRITE: AccessRule = { role: 'operator', scope: 'files:write' };

export async function uploadRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  await app.register(async (scope) => jsonRoutes(scope, ctx));
  await app.register(async (scope) => byteRoutes(scope, ctx));
}

async function jsonRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const uploads = ctx.uploads;
  const caps = ctx.blobs.capabilities;

  r.post(
    '/v1/files/init',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Start an upload (single, chunked or batch): sizes and quota are checked and reserved here',
        security: security.any,
        querystring: initQuery,
        // The part-size bounds are this storage's (BlobStore.capabilities), checked by UploadService.init.
        body: initBody.extend({
          partSize: initBody.shape.partSize.describe(
            `Bytes per part but the last: ${caps.minPartSize} to ${caps.maxPartSize}, at most ${caps.maxParts} parts (default ${DEFAULT_PART_SIZE})`,
          ),
        }),
        response: {
          201: initReply,
          ...errorResponses(400, 401, 403, 413, 429),
        },
      },
      config: { access: WRITE },
    },
    async (request, reply) => {
      const userId = actingUserId(request.principal!, request.body.user_id ?? request.query.user_id);
      const created = await uploads.init(userId, request.body);
      return reply.code(201).send({
        uploadId: created[0]!.id,
        uploads: created.map((u) => ({
          uploadId: u.id,
          name: u.filename,
          size: u.size,
          mime: u.mime,
          folder: u.folder || null,
          partSize: u.partSize,
          partCount: u.partCount,
          expiresAt: uploads.expiresAt(u),
        })),
      });
    },
  );

  r.get(
    '/v1/files/upload/:uploadId',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Parts received so far, for resuming',
        security: security.any,
        params: uploadParams,
        response: {
          200: uploadStatusReply,
          ...errorResponses(401, 403, 404),
        },
      },
      config: { access: { role: 'viewer', scope: 'files:read' } },
    },
    async (request) => {
      const { upload, parts } = await uploads.status(request.principal!, request.params.uploadId);
      return {
        uploadId: upload.id,
        state: upload.state,
        name: upload.filename,
        size: upload.size,
        mime: upload.mime,
        folder: upload.folder || null,
        partSize: upload.partSize,
        partCount: upload.partCount,
        receivedBytes: parts.reduce((n, p) => n + p.size, 0),
        parts,
        expiresAt: uploads.expiresAt(upload),
        key: upload.state === 'completed' ? upload.fileKey : null,
      };
    },
  );

  r.delete(
    '/v1/files/upload/:uploadId',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Abort an upload: parts removed, reservation freed',
        security: security.any,
        params: uploadParams,
        response: { 200: abortReply, ...errorResponses(401, 403, 404, 409) },
      },
      config: { access: WRITE },
    },
    async (request) => {
      await uploads.abort(request.principal!, request.params.uploadId);
      return { uploadId: request.params.uploadId, aborted: true as const };
    },
  );

  r.post(
    '/v1/files/complete',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Join the parts into the file, atomically; a retry answers 200 with the same record',
        security: security.any,
        body: completeBody,
        response: { 200: fileRecordSchema, 201: fileRecordSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
      config: { access: WRITE },
    },
    async (request, reply) => {
      const { uploadId, meta, sha256 } = request.body;
      const { file, created } = await uploads.complete(request.principal!, { uploadId, filename: meta?.filename, folder: meta?.folder, sha256 });
      return reply.code(created ? 201 : 200).send(publicRecord(file, ctx.config.publicBaseUrl));
    },
  );
}

const fieldValue = (file: MultipartFile, name: string): unknown => {
  const field = file.fields[name];
  return field && !Array.isArray(field) && field.type === 'field' ? field.value : undefined;
};

async function byteRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { maxFilesPerRequest } = ctx.config.limits;
  // Only two ways in: a raw stream (any content type) or multipart/form-data.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(multipart, {
    // Keep the filename exactly as sent: busboy would otherwise cut "../etc" down to "etc"
    // (a silent rewrite); the name rules then refuse it with a 400.
    preservePath: true,
    // One file more than MAX_FILES_PER_REQUEST reaches the handler, which refuses it with its own 413.
    limits: { fileSize: ctx.config.maxFileBytes + 1, files: maxFilesPerRequest + 1, fields: 50, fieldSize: 64 * 1024, parts: maxFilesPerRequest + 51 },
  });
  // A request refused before its body was read: close the connection rather than drain gigabytes.
  app.addHook('onError', async (request, reply) => {
    if (!request.raw.complete) void reply.header('Connection', 'close');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();

  const partSchema = {
    tags: ['uploads'],
    summary: 'Upload one part: raw bytes (?uploadId&partNumber) or multipart fields uploadId, partNumber, file',
    security: security.any,
    querystring: partQuery,
    response: { 200: partReply, ...errorResponses(400, 401, 403, 404, 409, 413) },
  };
  const partHandler = async (request: import('fastify').FastifyRequest<{ Querystring: { uploadId?: string; partNumber?: number } }>) => {
    let body: Readable;
    let locator: unknown = request.query;
    let contentLength: number | undefined;
    if (request.isMultipart()) {
      const file = await request.file();
      if (!file) throw new InvalidInput('validation_error', 'body: a file field is required');
      locator = { uploadId: fieldValue(file, 'uploadId') ?? request.query.uploadId, partNumber: fieldValue(file, 'partNumber') ?? request.query.partNumber };
      body = file.file;
    } else {
      body = request.body as Readable;
      const declared = Number(request.headers['content-length']);
      contentLength = Number.isFinite(declared) ? declared : undefined;
    }
    const parsed = partLocator.safeParse(locator);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new InvalidInput('validation_error', `${issue.path.join('.')}: ${issue.message}`);
    }
    const part = await ctx.uploads.putPart(request.principal!, parsed.data.uploadId, parsed.data.partNumber, body, {
      ...expectedDigests(request.headers),
      contentLength,
    });
    // Fields after the part (another file…) are never read: drain them, or the client stays
    // stuck sending a body nobody reads until the idle timeout (F-17).
    if (request.isMultipart() && !request.raw.complete) request.raw.unpipe().resume();
    return { uploadId: parsed.data.uploadId, ...part };
  };
  r.put('/v1/files/part', { schema: partSchema, config: { access: WRITE } }, partHandler);
  r.post('/v1/files/part', { schema: partSchema, config: { access: WRITE } }, partHandler);

  r.post(
    '/v1/files',
    {
      schema: {
        tags: ['uploads'],
        summary: 'One-request upload: multipart/form-data with one or more file fields (an optional folder field first)',
        security: security.any,
        querystring: oneRequestQuery,
        response: { 201: oneRequestReply, ...errorResponses(400, 401, 403, 413, 415) },
      },
      config: { access: WRITE },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw new InvalidInput('multipart_required', 'Expected multipart/form-data');
      const userId = actingUserId(request.principal!, request.query.user_id);
      const stored = await ctx.files.storeForm(userId, request.parts(), request.query.folder ?? '');
      return reply.code(201).send({ files: stored.map((f) => publicRecord(f, ctx.config.publicBaseUrl)) });
    },
  );
}
