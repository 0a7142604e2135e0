/**
 * Signed upload URLs over HTTP. Minting (`POST /v1/files/signed-upload-url`) is a JSON route
 * behind the guard; the URL itself (`/v1/upload/signed?upload&exp&sig`) declares no access
 * rule: its signature is the credential, checked by SignedUploadService before anything else.
 *
 *   PUT  {url}                  the whole file, then completed: 201 the record
 *   PUT  {url}&partNumber=N     one part (POST too): 200 as /v1/files/part
 *   POST {url}&complete=1       joins the parts sent: 201 the record
 *   DELETE {url}                gives the upload up: parts removed, reservation freed
 *   GET / HEAD {url}            403 upload_url_cannot_read, always
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { actingUserId } from '../auth/guard.js';
import type { AccessRule } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import type { UploadRecord } from '../db/types.js';
import { signedUploadBody, signedUploadQuery, signedUploadReply } from '../contract/signed-uploads.js';
import { abortReply, partReply } from '../contract/uploads.js';
import { InvalidInput } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { expectedDigests } from './checksums.js';
import { fileRecordSchema, publicRecord } from './records.js';
import { SIGNED_UPLOAD_PATH } from './signed-upload-sign.js';
import { SignedUploadService, type UrlCredential } from './signed-upload-service.js';

/** The URL's credential from the raw query (before zod: onRequest); a repeated or missing field is no credential. */
function credentialOf(query: unknown): UrlCredential {
  const q = (query ?? {}) as Record<string, unknown>;
  const one = (v: unknown) => (typeof v === 'string' && v.length <= 256 ? v : undefined);
  return { upload: one(q.upload), exp: one(q.exp), sig: one(q.sig) };
}

const WRITE: AccessRule = { role: 'operator', scope: 'files:write' };

export async function signedUploadRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const { config } = ctx;
  const service = new SignedUploadService(ctx.uploads, {
    signingKey: config.signingKey!,
    publicBaseUrl: config.publicBaseUrl,
    maxSeconds: Math.min(config.serve.signedUrlMaxSeconds, config.uploads.expirySeconds),
    clock: ctx.clock,
  });
  await app.register(async (scope) => mintRoute(scope, ctx, service));
  await app.register(async (scope) => urlRoutes(scope, ctx, service));
}

async function mintRoute(app: FastifyInstance, ctx: AppContext, service: SignedUploadService): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/files/signed-upload-url',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Mint a URL that uploads one file with no other credential; the quota is reserved now',
        security: security.any,
        body: signedUploadBody,
        response: { 201: signedUploadReply, ...errorResponses(400, 401, 403, 413, 429) },
      },
      config: { access: WRITE },
    },
    async (request, reply) => {
      const { user_id, expires_in, ...file } = request.body;
      const userId = actingUserId(request.principal!, user_id);
      const { url, upload, exp } = await service.mint(userId, { ...file, expiresIn: expires_in });
      return reply.code(201).send({ url, uploadId: upload.id, partSize: upload.partSize, partCount: upload.partCount, expires_at: new Date(exp * 1000).toISOString() });
    },
  );
}

async function urlRoutes(app: FastifyInstance, ctx: AppContext, service: SignedUploadService): Promise<void> {
  // Bytes stream through untouched: a raw pass-through is the only body parser here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  // Refused before the body was read: close the connection rather than drain gigabytes.
  app.addHook('onError', async (request, reply) => {
    if (!request.raw.complete) void reply.header('Connection', 'close');
  });
  // The URL is a credential: no Referer may carry it to another site.
  app.addHook('onSend', async (_request, reply) => {
    void reply.header('Referrer-Policy', 'no-referrer');
  });
  // The signature is checked as the guard checks a token, in onRequest: before the 100 Continue
  // (sent in preParsing, http/expect-continue.ts), so a refused client never sends its body.
  const admitted = new WeakMap<FastifyRequest, UploadRecord>();
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return; // refused by the handler, whatever the URL
    admitted.set(request, await service.admit(credentialOf(request.query)));
  });
  const uploadOf = (request: FastifyRequest): UploadRecord => admitted.get(request)!;
  const r = app.withTypeProvider<ZodTypeProvider>();
  const base = { tags: ['uploads'], querystring: signedUploadQuery };
  const digests = (request: FastifyRequest) => {
    const declared = Number(request.headers['content-length']);
    return { ...expectedDigests(request.headers), contentLength: Number.isFinite(declared) ? declared : undefined };
  };
  const record = (file: Parameters<typeof publicRecord>[0]) => publicRecord(file, ctx.config.publicBaseUrl);

  r.put(
    SIGNED_UPLOAD_PATH,
    {
      schema: {
        ...base,
        summary: 'Signed upload URL: the whole file (then completed, 201), or with &partNumber=N one part (200)',
        response: { 200: partReply, 201: fileRecordSchema, ...errorResponses(400, 403, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const { partNumber, complete } = request.query;
      if (complete !== undefined) throw new InvalidInput('validation_error', 'querystring.complete: POST completes, PUT sends bytes');
      const body = request.body as Readable;
      const upload = uploadOf(request);
      if (partNumber !== undefined) {
        const part = await service.putPart(upload, partNumber, body, digests(request));
        return reply.code(200).send({ uploadId: upload.id, ...part });
      }
      const { file, created } = await service.putWhole(upload, body, digests(request));
      return reply.code(created ? 201 : 200).send(record(file));
    },
  );

  r.post(
    SIGNED_UPLOAD_PATH,
    {
      schema: {
        ...base,
        summary: 'Signed upload URL: &complete=1 joins the parts sent (201 the record); &partNumber=N sends one part (200)',
        response: { 200: partReply.or(fileRecordSchema), 201: fileRecordSchema, ...errorResponses(400, 403, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const { partNumber, complete } = request.query;
      if ((partNumber === undefined) === (complete === undefined)) {
        throw new InvalidInput('validation_error', 'querystring: either complete=1 or partNumber');
      }
      const upload = uploadOf(request);
      if (partNumber !== undefined) {
        const part = await service.putPart(upload, partNumber, request.body as Readable, digests(request));
        return reply.code(200).send({ uploadId: upload.id, ...part });
      }
      // Nothing in the body counts: drain what a client may have sent.
      if (!request.raw.complete) (request.body as Readable | undefined)?.resume();
      const { file, created } = await service.complete(upload);
      return reply.code(created ? 201 : 200).send(record(file));
    },
  );

  r.delete(
    SIGNED_UPLOAD_PATH,
    {
      schema: { ...base, summary: 'Signed upload URL: give the upload up (parts removed, reservation freed)', response: { 200: abortReply, ...errorResponses(400, 403, 409) } },
    },
    async (request) => ({ uploadId: await service.abort(uploadOf(request)), aborted: true as const }),
  );

  r.route({
    method: ['GET', 'HEAD'],
    url: SIGNED_UPLOAD_PATH,
    schema: { ...base, summary: 'Signed upload URLs never read: always 403 upload_url_cannot_read', response: errorResponses(403) },
    handler: async () => service.refuseRead(),
  });
}
