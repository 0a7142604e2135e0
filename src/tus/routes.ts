/**
 * The tus 1.0 routes at /v1/tus/ (protocol in tus-service.ts). Thin: headers are parsed by
 * protocol.ts, the answer's headers are set here. Bodies stream (a raw pass-through parser is
 * the scope's only one). Same principals as the native routes (the guard's `access` rule):
 * Bearer, the auth_token cookie (CSRF rule on unsafe methods), or the service token with
 * `user_id` in Upload-Metadata.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AccessRule } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import { InvalidInput } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import type { PatchInput } from './patch-writer.js';
import {
  CHECKSUM_ALGORITHMS,
  checkOffsetStream,
  checkTusResumable,
  contentLength,
  encodeMetadata,
  integerHeader,
  parseChecksum,
  parseConcat,
  parseDeferLength,
  parseMetadata,
  TUS_EXTENSIONS,
  TUS_VERSION,
} from './protocol.js';
import { TusService, type TusInfo } from './tus-service.js';

const WRITE: AccessRule = { role: 'operator', scope: 'files:write' };
const READ: AccessRule = { role: 'viewer', scope: 'files:read' };
const params = z.object({ id: z.string().min(1).max(64) });
const OVERRIDES = ['PATCH', 'DELETE', 'HEAD'] as const;
type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const tusHeaders = z
  .object({
    'tus-resumable': z.string().optional().describe(`Must be ${TUS_VERSION} (else 412)`),
    'upload-length': z.string().optional().describe('POST: the length (or Upload-Defer-Length: 1); PATCH: the length of a deferred upload, once known'),
    'upload-defer-length': z.string().optional().describe('1: the length is not known yet (reserves MAX_BODY_MB of the quota until it is)'),
    'upload-offset': z.string().optional(),
    'upload-metadata': z.string().optional().describe('filename, filetype, folder, sha256 (and user_id for a service), Base64 values'),
    'upload-concat': z.string().optional().describe('partial, or final;<partial URLs>'),
    'upload-checksum': z.string().optional().describe(`<${CHECKSUM_ALGORITHMS.join('|')}> <Base64 digest> of this PATCH's body`),
    'x-http-method-override': z.enum(OVERRIDES).optional(),
  })
  .passthrough();

export async function tusRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const tus = new TusService({ uploads: ctx.uploads, files: ctx.files, store: ctx.store, blobs: ctx.blobs, clock: ctx.clock, maxFileBytes: ctx.config.maxFileBytes });
  const base = ctx.config.publicBaseUrl.replace(/\/+$/, '');
  const optionsHeaders = {
    'Tus-Resumable': TUS_VERSION,
    'Tus-Version': TUS_VERSION,
    'Tus-Extension': TUS_EXTENSIONS.join(','),
    'Tus-Max-Size': String(ctx.config.maxFileBytes),
    'Tus-Checksum-Algorithm': CHECKSUM_ALGORITHMS.join(','),
  };

  // Bodies reach the handlers as the raw request stream, whatever their type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'OPTIONS') checkTusResumable(request.headers);
  });
  // "The Tus-Resumable header MUST be included in every … response"; a 412 names the versions we speak.
  app.addHook('onSend', async (request, reply) => {
    void reply.header('Tus-Resumable', TUS_VERSION);
    if (reply.statusCode === 412) void reply.header('Tus-Version', TUS_VERSION);
  });
  // A request refused before its body was read: close the connection rather than drain it.
  app.addHook('onError', async (request, reply) => {
    if (!request.raw.complete) void reply.header('Connection', 'close');
  });
  // Untyped routes: headers are parsed by protocol.ts, and the replies have no body.
  const r = app;

  const infoHeaders = (reply: FastifyReply, info: TusInfo) => {
    void reply.header('Upload-Offset', String(info.offset)).header('Cache-Control', 'no-store');
    // "As long as the length of the upload is not known, the Server MUST set Upload-Defer-Length: 1 in all responses to HEAD requests."
    if (info.deferred) void reply.header('Upload-Defer-Length', '1');
    else void reply.header('Upload-Length', String(info.length));
    const meta = encodeMetadata(info.metadata);
    if (meta) void reply.header('Upload-Metadata', meta);
    // "Response to HEAD request against partial or final upload MUST include the Upload-Concat header and its value as received in the upload creation request."
    if (info.concat) void reply.header('Upload-Concat', concatHeader(info));
    if (info.expiresAt) void reply.header('Upload-Expires', new Date(info.expiresAt).toUTCString());
  };

  /** The PATCH body, or undefined for a POST without one. */
  const bodyOf = (request: FastifyRequest): PatchInput | undefined => {
    const length = contentLength(request.headers);
    if (request.method === 'POST' && (length === 0 || (length === undefined && !request.headers['transfer-encoding']))) return undefined;
    checkOffsetStream(request.headers);
    return { body: request.raw, length, checksum: parseChecksum(one(request.headers['upload-checksum'])) };
  };

  const options = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(204).headers(optionsHeaders).send();
  // `security: []`: discovery is public (OPTIONS is also a CORS preflight, which carries no credentials).
  const optionsSchema = { tags: ['tus'], summary: 'tus discovery: version, extensions, max size, checksum algorithms (no credentials)', security: [], response: { 204: z.null() } };
  r.options('/v1/tus/', { schema: optionsSchema }, options);
  r.options('/v1/tus/:id', { schema: { ...optionsSchema, params } }, options);

  r.post(
    '/v1/tus/',
    {
      schema: {
        tags: ['tus'],
        summary: 'tus creation (Upload-Length or Upload-Defer-Length, Upload-Metadata), creation-with-upload, or Upload-Concat partial / final',
        security: security.any,
        headers: tusHeaders,
        response: { 201: z.null(), ...errorResponses(400, 401, 403, 404, 409, 412, 413, 415, 429) },
      },
      config: { access: WRITE },
    },
    async (request, reply) => {
      const h = request.headers;
      const info = await tus.create(
        request.principal!,
        {
          length: integerHeader(h, 'upload-length'),
          deferLength: parseDeferLength(h),
          metadata: parseMetadata(one(h['upload-metadata'])),
          concat: parseConcat(one(h['upload-concat'])),
        },
        bodyOf(request),
      );
      infoHeaders(reply, info);
      return reply.code(201).header('Location', `${base}/v1/tus/${info.id}`).send();
    },
  );

  const head = async (request: IdRequest, reply: FastifyReply) => {
    infoHeaders(reply, await tus.head(request.principal!, request.params.id));
    return reply.code(200).send();
  };
  const patch = async (request: IdRequest, reply: FastifyReply) => {
    const offset = integerHeader(request.headers, 'upload-offset');
    if (offset === undefined) throw new InvalidInput('validation_error', 'Upload-Offset is required');
    const input = bodyOf(request)!;
    const info = await tus.patch(request.principal!, request.params.id, offset, input, integerHeader(request.headers, 'upload-length'));
    void reply.header('Upload-Offset', String(info.offset));
    if (info.deferred) void reply.header('Upload-Defer-Length', '1');
    if (info.expiresAt) void reply.header('Upload-Expires', new Date(info.expiresAt).toUTCString());
    return reply.code(204).send();
  };
  const terminate = async (request: IdRequest, reply: FastifyReply) => {
    await tus.terminate(request.principal!, request.params.id);
    return reply.code(204).send();
  };

  const byId = (summary: string, ok: number, ...errors: number[]) => ({
    schema: { tags: ['tus'], summary, security: security.any, params, headers: tusHeaders, response: { [ok]: z.null(), ...errorResponses(...errors) } },
  });
  // exposeHeadRoute: @fastify/swagger leaves HEAD routes out of the document unless told.
  r.route({ method: 'HEAD', url: '/v1/tus/:id', ...byId('tus: the upload offset, length and metadata', 200, 401, 403, 404, 412), config: { access: READ, swagger: { exposeHeadRoute: true } }, handler: head });
  r.patch('/v1/tus/:id', { ...byId('tus: bytes at Upload-Offset (409 when it is not the offset), optional Upload-Checksum (460), Upload-Length of a deferred upload', 204, 400, 401, 403, 404, 409, 412, 413, 415, 460), config: { access: WRITE } }, patch);
  r.delete('/v1/tus/:id', { ...byId('tus termination: the upload goes and its reservation is freed', 204, 401, 403, 404, 409, 412), config: { access: WRITE } }, terminate);
  // For clients behind proxies that pass only GET and POST.
  r.post('/v1/tus/:id', { ...byId('tus with X-HTTP-Method-Override: PATCH, DELETE or HEAD', 204, 400, 401, 403, 404, 409, 412, 413, 415, 460), config: { access: WRITE } }, async (request: IdRequest, reply) => {
    const method = one(request.headers['x-http-method-override'])?.toUpperCase();
    if (method === 'PATCH') return patch(request, reply);
    if (method === 'DELETE') return terminate(request, reply);
    if (method === 'HEAD') return head(request, reply);
    throw new InvalidInput('validation_error', 'POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD');
  });
}

/**
 * A final's list as sent ("final;<url> <url>"), unless it is longer than common clients read in
 * a header (Node's fetch takes 16 KiB of headers in all): then "final" alone.
 */
const MAX_CONCAT_HEADER = 8 * 1024;
function concatHeader(info: TusInfo): string {
  if (info.concat !== 'final' || !info.partialUrls) return info.concat!;
  const full = `final;${info.partialUrls.join(' ')}`;
  return full.length <= MAX_CONCAT_HEADER ? full : 'final';
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
