/**
 * Prometheus metrics (prom-client), one registry per app so tests can build many apps.
 * GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; without METRICS_TOKEN the
 * route does not exist (404), so an unconfigured server exposes nothing.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { secretsEqual } from '../auth/guard.js';
import type { AuthFailureReason } from '../auth/verifier.js';
import type { MetadataStore } from '../db/types.js';
import { NotAuthenticated, InvalidToken } from '../errors/index.js';
import type { Telemetry } from './telemetry.js';

export class PromTelemetry implements Telemetry {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  private readonly uploads = new Counter({
    name: 'uploads_total',
    help: 'Upload sessions by outcome (started, completed, expired, aborted)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'file_bytes_total',
    help: 'File content bytes received (in) and sent (out)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  private readonly zips = new Counter({
    name: 'zip_streams_total',
    help: 'ZIP batch streams by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly zipsActive = new Gauge({ name: 'zip_streams_active', help: 'ZIP streams in progress', registers: [this.registry] });
  private readonly authFailures = new Counter({
    name: 'auth_failures_total',
    help: 'Rejected credentials by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor(store: MetadataStore) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'uploads_open',
      help: 'Upload sessions currently open',
      registers: [this.registry],
      async collect() {
        // Counted in SQL: a scrape must not load 100k upload rows (F-07).
        this.set(await store.uploads.countUploads('open'));
      },
    });
  }

  uploadsStarted(count: number): void {
    this.uploads.inc({ event: 'started' }, count);
  }
  uploadCompleted(): void {
    this.uploads.inc({ event: 'completed' });
  }
  uploadsExpired(count: number): void {
    if (count > 0) this.uploads.inc({ event: 'expired' }, count);
  }
  uploadAborted(): void {
    this.uploads.inc({ event: 'aborted' });
  }
  bytesIn(count: number): void {
    this.bytes.inc({ direction: 'in' }, count);
  }
  bytesOut(count: number): void {
    this.bytes.inc({ direction: 'out' }, count);
  }
  zipStarted(): void {
    this.zipsActive.inc();
  }
  zipFinished(outcome: 'complete' | 'aborted' | 'failed'): void {
    this.zipsActive.dec();
    this.zips.inc({ outcome });
  }
  authFailure(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }
}

export interface MetricsDeps {
  telemetry: PromTelemetry;
  /** METRICS_TOKEN; without it /metrics does not exist. */
  token: string | undefined;
}

export async function metricsRoutes(app: FastifyInstance, { telemetry, token }: MetricsDeps): Promise<void> {
  // A callback hook, not an async one: no promise per request for a synchronous observe.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: keys and tokens must not become label values.
    const route = request.routeOptions.url ?? 'unmatched';
    telemetry.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  if (!token) return;
  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics (Bearer METRICS_TOKEN)', security: [{ bearer: [] }] } }, async (request, reply) => {
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!given) throw new NotAuthenticated();
    // RFC 6750: a token was sent and is wrong → error="invalid_token".
    if (!secretsEqual(given, token)) throw new InvalidToken('Authentication required');
    return reply.type(telemetry.registry.contentType).send(await telemetry.registry.metrics());
  });
}
