/**
 * GET /healthz: storage writability (local disk: a probe file is written and removed in each
 * folder; S3: the bucket answers a HeadBucket within 3 s), disk figures from statfs (0 on S3,
 * which has none), and a database ping. 503 when either storage or the database fails.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MetadataStore } from '../db/types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { VERSION } from '../version.js';

const startedAt = Date.now();

/** What the probe reads, and nothing more. */
export interface HealthDeps {
  blobs: Pick<BlobStore, 'health'>;
  store: Pick<MetadataStore, 'ping'>;
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Liveness and readiness: storage writable, disk space, database reachable',
        response: {
          '2xx': z.object({
            status: z.enum(['ok', 'degraded']),
            storage: z.object({ writable: z.boolean(), disk_total: z.number(), disk_free: z.number(), used_percent: z.number() }),
            db: z.enum(['ok', 'down']),
            version: z.string(),
            uptime_s: z.number(),
          }),
          503: z.any(),
        },
      },
    },
    async (_request, reply) => {
      const storage = await deps.blobs.health();
      const db = await deps.store.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      );
      const healthy = storage.writable && db === 'ok';
      const { totalBytes: total, freeBytes: free } = storage.capacity ?? { totalBytes: 0, freeBytes: 0 };
      void reply.code(healthy ? 200 : 503).header('Cache-Control', 'no-store');
      return {
        status: healthy ? ('ok' as const) : ('degraded' as const),
        storage: {
          writable: storage.writable,
          // An object store has no disk figures: 0, as for a disk statfs cannot read.
          disk_total: total,
          disk_free: free,
          used_percent: total > 0 ? Math.round((1 - free / total) * 1000) / 10 : 0,
        },
        db,
        version: VERSION,
        uptime_s: Math.round((Date.now() - startedAt) / 1000),
      };
    },
  );
}
