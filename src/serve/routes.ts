/**
 * Reading bytes: `/storage/...` (public or owner-only), `/get/...` (signed URLs), the
 * signed-URL issuer and ZIP batches. Thin: parse, one call into DownloadService or
 * BatchService, then hand the record to the streamer (or the archive to the reply).
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actingUserId, type Guard } from '../auth/guard.js';
import type { AccessRule } from '../auth/principal.js';
import type { Config } from '../config/config.js';
import { batchBody, batchReply, dispositionSchema as disposition, signedUrlQuery, signedUrlReply } from '../contract/files.js';
import { errorResponses, security } from '../http/schemas.js';
import type { Telemetry } from '../ops/telemetry.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { BatchService } from './batches.js';
import { dispositionHeaders, type DispositionType } from './disposition.js';
import type { Download, DownloadService } from './download-service.js';
import { serveFile } from './streamer.js';
import type { ZipJob } from './zip.js';

/** What these routes use, and nothing more. */
export interface ServeDeps {
  downloads: DownloadService;
  batches: BatchService;
  /** The bytes serveFile streams. */
  blobs: BlobStore;
  guard: Pick<Guard, 'require'>;
  telemetry: Pick<Telemetry, 'bytesOut' | 'zipStarted' | 'zipFinished'>;
  serve: Config['serve'];
  publicBaseUrl: string;
  /** Applied before a batch request's body is read: its size, and creations per minute. */
  batchBody: { maxFiles: number; createsPerMinute: number };
}

const READ: AccessRule = { role: 'viewer', scope: 'files:read' };
const wildcard = z.object({ '*': z.string() });

export async function serveRoutes(app: FastifyInstance, deps: ServeDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { downloads, batches, serve, publicBaseUrl, telemetry } = deps;
  const send = (request: FastifyRequest, reply: FastifyReply, download: Download, as: DispositionType | undefined) =>
    serveFile(request, reply, download.file, deps.blobs, {
      cacheControl: download.cacheControl,
      extraHeaders: download.extraHeaders,
      disposition: as,
      accelPrefix: serve.accelRedirectPrefix,
      onSent: (bytes) => telemetry.bytesOut(bytes),
    });

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
      // Credentials are checked before the key is even parsed: a stranger learns nothing.
      const principal = serve.publicStorage ? null : await deps.guard.require(request, READ);
      const download = await downloads.openStorage(principal, `storage/${request.params['*']}`);
      return send(request, reply, download, request.query.disposition);
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
      const download = await downloads.openSigned(request.params['*'], request.query.exp, request.query.sig);
      return send(request, reply, download, request.query.disposition);
    },
  });

  r.get(
    '/v1/files/signed-url',
    {
      schema: {
        tags: ['download'],
        summary: 'A time-limited URL that downloads one file without credentials',
        security: security.any,
        querystring: signedUrlQuery,
        response: {
          200: signedUrlReply,
          ...errorResponses(400, 401, 403, 404),
        },
      },
      config: { access: READ },
    },
    async (request) => {
      const q = request.query;
      const signed = await downloads.signUrl(request.principal!, q.key, { expiresIn: q.expires_in, disposition: q.disposition });
      return { ...signed, expires_at: new Date(signed.exp * 1000).toISOString() };
    },
  );

  r.post(
    '/v1/files/batch-download',
    {
      schema: {
        tags: ['download'],
        summary: 'Prepare a ZIP of several files; the token in the answer downloads it',
        security: security.any,
        body: batchBody,
        response: {
          201: batchReply,
          ...errorResponses(400, 401, 403, 404, 413, 429),
        },
      },
      // Up to BATCH_MAX_FILES keys, each possibly long.
      bodyLimit: Math.max(1024 * 1024, deps.batchBody.maxFiles * 1024 + 64 * 1024),
      config: {
        access: READ,
        // F-08: checking thousands of keys costs CPU: a user creates at most
        // BATCH_CREATE_RATE_LIMIT tokens a minute, refused before the body is read.
        rateLimit: {
          hook: 'preParsing',
          max: deps.batchBody.createsPerMinute,
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
      const archive = await batches.openArchive(request.params.token);
      settleWithResponse(request, reply, archive.job, telemetry);
      // A stored batch's exact length is known before the first byte (zip-stored.ts).
      if (archive.job.length !== undefined) reply.header('Content-Length', String(archive.job.length));
      return sendArchive(reply, archive.name, archive.job.stream);
    },
  );
}

/**
 * Ties the archive job to the response: a client that leaves stops the reading, and once the
 * job settles the metrics learn the outcome. A failure after the headers went out can only
 * cut the stream short, so it is logged here (the error handler never sees it).
 */
function settleWithResponse(request: FastifyRequest, reply: FastifyReply, job: ZipJob, telemetry: ServeDeps['telemetry']): void {
  telemetry.zipStarted();
  reply.raw.once('close', () => {
    const delivered = reply.raw.writableFinished;
    if (!delivered) job.abort();
    void job.done.then(({ error, ...result }) => {
      telemetry.bytesOut(result.bytes);
      telemetry.zipFinished(result.failed ? 'failed' : delivered ? 'complete' : 'aborted');
      if (result.failed) request.log.error({ err: error, ...result, delivered }, 'batch download cut short');
      else request.log.debug({ ...result, delivered }, 'batch download finished');
    });
  });
}

function sendArchive(reply: FastifyReply, name: string, stream: Readable): FastifyReply {
  return reply
    .code(200)
    .headers({ ...dispositionHeaders(name, 'application/zip', 'attachment'), 'Cache-Control': 'private, no-store' })
    .header('Content-Type', 'application/zip')
    .send(stream);
}
