/**
 * Reading bytes: `/storage/...` (public or owner-only), `/get/...` (signed URLs), the
 * signed-URL issuer and ZIP batches. Thin: parse, authorise, hand over to the streamer.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actingUserId } from '../auth/guard.js';
import type { AccessRule } from '../auth/principal.js';
import { userIdSchema } from '../auth/user-id.js';
import type { AppContext } from '../context.js';
import { mayAccess } from '../files/file-service.js';
import { parseKey } from '../files/keys.js';
import { InvalidInput, NotAllowed, FileNotFound } from '../errors/index.js';
import { errorResponses, security } from '../http/schemas.js';
import { BatchService } from './batches.js';
import { dispositionHeaders } from './disposition.js';
import { decodeKeyToken, signedUrl, verifySignature } from './signed-urls.js';
import { serveFile } from './streamer.js';
import { zipStream } from './zip.js';

const READ: AccessRule = { role: 'viewer', scope: 'files:read' };
const disposition = z.enum(['inline', 'attachment']).optional();
const wildcard = z.object({ '*': z.string() });
const seconds = (): number => Math.floor(Date.now() / 1000);

export async function serveRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { serve, batch: batchLimits, publicBaseUrl } = ctx.config;
  const signingKey = ctx.config.signingKey!;
  const batches = new BatchService(ctx.store, {
    maxFiles: batchLimits.maxFiles,
    maxBytes: batchLimits.maxBytes,
    ttlSeconds: batchLimits.tokenTtlSeconds,
    maxOpen: ctx.config.limits.maxOpenBatches,
  });
  const sent = (bytes: number): void => ctx.telemetry.bytesOut(bytes);

  r.route({
    method: ['GET', 'HEAD'],
    url: '/storage/*',
    schema: {
      tags: ['download'],
      summary: serve.publicStorage ? 'Download a file (public storage)' : "Download a file (the owner's, an admin's or a service token)",
      ...(serve.publicStorage ? {} : { security: security.any }),
      params: wildcard,
      querystring: z.object({ disposition }),
      response: errorResponses(400, 401, 403, 404, 412, 416),
    },
    handler: async (request, reply) => {
      const key = `storage/${request.params['*']}`;
      const principal = serve.publicStorage ? null : await ctx.guard.require(request, READ);
      const owner = parseKey(key).userId;
      const file = principal && !mayAccess(principal, owner) ? null : await ctx.files.getByKey(key);
      if (!file) throw new FileNotFound();
      return serveFile(request, reply, file, ctx.blobs, {
        cacheControl: serve.publicStorage ? serve.publicCacheControl : 'private, no-cache',
        disposition: request.query.disposition,
        accelPrefix: serve.accelRedirectPrefix,
        onSent: sent,
      });
    },
  });

  r.route({
    method: ['GET', 'HEAD'],
    url: '/get/*',
    schema: {
      tags: ['download'],
      summary: 'Download a file through a signed URL',
      params: wildcard,
      querystring: z.object({ exp: z.string().max(32).optional(), sig: z.string().max(256).optional(), disposition }),
      response: errorResponses(400, 403, 404, 412, 416),
    },
    handler: async (request, reply) => {
      const key = decodeKeyToken(request.params['*']);
      if (key === null) throw new InvalidInput('invalid_key', 'The key in a signed URL must be base64url');
      parseKey(key);
      const now = seconds();
      const verdict = verifySignature(signingKey, key, request.query.exp, request.query.sig, now);
      if (verdict === 'expired') throw new NotAllowed('url_expired', 'This signed URL has expired');
      if (verdict !== 'ok') throw new NotAllowed('invalid_signature', 'Invalid signature');
      const file = await ctx.files.getByKey(key);
      if (!file) throw new FileNotFound();
      const maxAge = Math.max(0, Math.min(Number(request.query.exp) - now, 86_400));
      return serveFile(request, reply, file, ctx.blobs, {
        cacheControl: `private, max-age=${maxAge}`,
        disposition: request.query.disposition,
        accelPrefix: serve.accelRedirectPrefix,
        onSent: sent,
        extraHeaders: { 'Referrer-Policy': 'no-referrer' },
      });
    },
  });

  r.get(
    '/v1/files/signed-url',
    {
      schema: {
        tags: ['download'],
        summary: 'A time-limited URL that downloads one file without credentials',
        security: security.any,
        querystring: z.object({
          key: z.string().min(1).max(16 * 1024),
          expires_in: z.coerce.number().int().positive().optional(),
          disposition,
        }),
        response: {
          200: z.object({ url: z.string(), exp: z.number().int(), expires_at: z.string() }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
      config: { access: READ },
    },
    async (request) => {
      const { key, expires_in: expiresIn = 3600 } = request.query;
      if (expiresIn > serve.signedUrlMaxSeconds) {
        throw new InvalidInput('expires_in_too_large', `query.expires_in: at most ${serve.signedUrlMaxSeconds} seconds`);
      }
      const file = await ctx.files.getVisible(request.principal!, key);
      const exp = seconds() + expiresIn;
      return {
        url: signedUrl(publicBaseUrl, signingKey, file.key, exp, request.query.disposition),
        exp,
        expires_at: new Date(exp * 1000).toISOString(),
      };
    },
  );

  r.post(
    '/v1/files/batch-download',
    {
      schema: {
        tags: ['download'],
        summary: 'Prepare a ZIP of several files; the token in the answer downloads it',
        security: security.any,
        body: z.object({
          keys: z.array(z.string().min(1).max(16 * 1024)).min(1),
          name: z.string().max(1024).optional(),
          compression: z.enum(['store', 'deflate']).optional(),
          user_id: userIdSchema.optional(),
        }),
        response: {
          201: z.object({ token: z.string(), url: z.string(), expires_at: z.string(), count: z.number().int(), total_size: z.number().int() }),
          ...errorResponses(400, 401, 403, 404, 413, 429),
        },
      },
      // Up to BATCH_MAX_FILES keys, each possibly long.
      bodyLimit: Math.max(1024 * 1024, batchLimits.maxFiles * 1024 + 64 * 1024),
      config: {
        access: READ,
        // F-08: checking thousands of keys costs CPU: a user creates at most
        // BATCH_CREATE_RATE_LIMIT tokens a minute, refused before the body is read.
        rateLimit: {
          hook: 'preParsing',
          max: ctx.config.limits.batchCreatesPerMinute,
          timeWindow: 60_000,
          keyGenerator: (request) => `batch:${request.principal?.userId ?? request.ip}`,
          allowList: (request) => request.principal?.kind === 'service',
        },
      },
      // F-08: a user at the batch cap is refused before up to 10 MB of body is read and parsed
      // (the guard has run by now); the connection closes instead of draining the body.
      preParsing: async (request, reply, payload) => {
        const p = request.principal;
        if (p?.kind === 'user' && p.userId) {
          await batches.assertRoom(p.userId).catch((err: unknown) => {
            void reply.header('Connection', 'close');
            throw err;
          });
        }
        return payload;
      },
    },
    async (request, reply) => {
      const { keys, name, compression, user_id: userId } = request.body;
      if (userId !== undefined) actingUserId(request.principal!, userId);
      const created = await batches.create(request.principal!, { keys, name, compression, userId });
      return reply.code(201).send({
        token: created.token,
        url: `${publicBaseUrl}/v1/files/batch-download/${created.token}`,
        expires_at: new Date(created.expiresAt * 1000).toISOString(),
        count: created.count,
        total_size: created.totalSize,
      });
    },
  );

  r.get(
    '/v1/files/batch-download/:token',
    {
      // A HEAD would run the handler and read every file only to discard the bytes.
      exposeHeadRoute: false,
      schema: {
        tags: ['download'],
        summary: 'Download a prepared ZIP (the token is the credential)',
        params: z.object({ token: z.string().max(256) }),
        response: errorResponses(404),
      },
    },
    async (request, reply) => {
      const batch = await batches.open(request.params.token);
      // By id: each record is looked up as its entry comes, so a file deleted meanwhile is left out.
      const job = zipStream(batch.fileIds, { lookup: (id) => ctx.files.getById(id), blobs: ctx.blobs }, { compression: batch.compression });
      ctx.telemetry.zipStarted();
      reply.raw.once('close', () => {
        const delivered = reply.raw.writableFinished;
        if (!delivered) job.abort();
        void job.done.then((result) => {
          ctx.telemetry.bytesOut(result.bytes);
          ctx.telemetry.zipFinished(result.failed ? 'failed' : delivered ? 'complete' : 'aborted');
          request.log.debug({ ...result, delivered }, 'batch download finished');
        });
      });
      return sendArchive(reply, batch.name, job.stream);
    },
  );
}

function sendArchive(reply: FastifyReply, name: string, stream: Readable): FastifyReply {
  return reply
    .code(200)
    .headers({ ...dispositionHeaders(name, 'application/zip', 'attachment'), 'Cache-Control': 'private, no-store' })
    .header('Content-Type', 'application/zip')
    .send(stream);
}
