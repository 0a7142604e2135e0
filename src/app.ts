/**
 * buildApp(config): the whole HTTP server, used by main and by the tests.
 * Fastify 5 + zod type provider (every route's schema validates and documents),
 * one error handler, the guard hook, then each domain's routes.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config/config.js';
import type { Clock } from './util/clock.js';
import { createContext, type AppContext } from './context.js';
import { adminRoutes } from './auth/admin-routes.js';
import { externalIssuerWarnings } from './auth/external.js';
import { guardPlugin } from './auth/guard.js';
import { authRoutes } from './auth/routes.js';
import { cookieSessionFor } from './auth/cookie-session.js';
import { tokenRoutes } from './auth/token-routes.js';
import { frameworkErrorHandler, registerErrorHandling } from './http/error-handler.js';
import { registerBodyRate } from './http/body-rate.js';
import { clientErrorHandler } from './http/client-errors.js';
import { ConnectionGate, trustedProxies } from './http/connection-limits.js';
import { registerExpectContinue } from './http/expect-continue.js';
import { RateLimited } from './errors/index.js';
import { loggerOptions } from './http/logging.js';
import { registerDocs } from './http/docs.js';
import { healthRoutes } from './ops/health.js';
import { fileRoutes } from './files/routes.js';
import { uploadRoutes } from './files/upload-routes.js';
import { signedUploadRoutes } from './files/signed-upload-routes.js';
import { tusRoutes } from './tus/routes.js';
import { serveRoutes } from './serve/routes.js';
import { registerCors } from './http/cors.js';
import { metricsRoutes } from './ops/metrics.js';
import { startHousekeeping } from './ops/housekeeping.js';
import { eventRoutes } from './events/routes.js';
import { startDeliveries } from './events/start.js';
import { webAppRoutes } from './web/web-app.js';

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}

export interface BuildOptions {
  /** Pass false to silence logs (tests); default: pino at the configured level. */
  logger?: boolean;
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
  /** Time for every service; tests pass a ManualClock to move it instead of sleeping. */
  clock?: Clock;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  let log: FastifyBaseLogger | undefined; // the app's logger, once the app exists
  const ctx = await createContext(config, opts.clock, {
    onDatabaseError: (err) => log?.warn({ err }, 'a database connection was lost; the pool reconnects'),
  });
  await ctx.uploads.reconcile(); // before the first request: see UploadService.reconcile
  const app = Fastify({
    logger: opts.logger === false ? false : loggerOptions(config.logLevel, opts.logStream),
    trustProxy: config.trustProxy,
    // Keys may hold a 255-byte filename in a 32-deep folder: far beyond the default 100.
    routerOptions: { maxParamLength: 16 * 1024, ignoreDuplicateSlashes: false },
    bodyLimit: 1024 * 1024, // JSON bodies; byte uploads stream through their own parsers
    requestTimeout: 0, // long uploads at a steady pace must succeed; idleness is cut instead
    // An idle socket (no bytes either way) is cut: stalled bodies end, steady ones never do.
    connectionTimeout: config.bodyIdleTimeoutMs,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // The longest valid key (a 255-byte CJK filename 32 folders deep) percent-encodes to ~25 KB
    // of request line: beyond Node's 16 KiB default, which would answer 431.
    // Headers that take too long are cut within 2 s of headersTimeout (Node's default check
    // runs every 30 s, so a slowloris held a connection up to 90 s).
    http: { maxHeaderSize: 64 * 1024, connectionsCheckingInterval: 2_000 },
    // Errors Fastify raises before routing (a malformed %-escape in the URL…) get our JSON shape too,
    // and so do those Node's HTTP parser raises before there is a request (bad URL, 431, 408).
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  log = app.log;
  // Connection caps, 100-continue only once authorised, a minimum body rate (docs/api.md, Limits).
  new ConnectionGate(
    { maxConnections: config.limits.maxConnections, maxPerAddress: config.limits.maxConnectionsPerAddress },
    trustedProxies(config.trustProxy),
  ).install(app.server);
  registerExpectContinue(app);
  registerBodyRate(app, { minBytesPerSecond: config.limits.bodyMinBytesPerSecond, windowMs: config.limits.bodyMinRateWindowMs });
  app.decorate('ctx', ctx);
  for (const warning of externalIssuerWarnings(config.auth.external)) app.log.warn(warning);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  const housekeeping = startHousekeeping(ctx, app.log);
  const deliveries = startDeliveries(ctx, app.log, opts.clock);
  app.addHook('onClose', async () => {
    await housekeeping.stop();
    await deliveries?.stop();
    await ctx.hashPool.close();
    await ctx.store.close();
    await ctx.blobs.close();
  });

  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, context) => new RateLimited(context.ttl / 1000),
  });
  await registerCors(app, config.corsOrigins);
  await registerDocs(app, { publicBaseUrl: config.publicBaseUrl });
  await metricsRoutes(app, { telemetry: ctx.telemetry, token: config.metricsToken });
  await app.register(guardPlugin, { guard: ctx.guard });

  await app.register(async (scope) => {
    await healthRoutes(scope, { blobs: ctx.blobs, store: ctx.store });
    await authRoutes(scope, {
      sessions: ctx.sessions,
      profiles: ctx.profiles,
      keys: ctx.keys,
      cookies: cookieSessionFor(config),
      origins: ctx.guard,
      discovery: { issuer: config.auth.issuer, publicBaseUrl: config.publicBaseUrl, alg: config.auth.alg },
    });
    // Older HTTP clients post form bodies to generate-token (service token only, so no CSRF
    // surface): a form parser in that route's scope alone; JSON routes elsewhere stay JSON-only.
    await scope.register(async (tokenScope) => {
      await tokenScope.register(formbody, { bodyLimit: 64 * 1024 });
      await tokenRoutes(tokenScope, { issuer: ctx.issuer });
    });
    await adminRoutes(scope, { users: ctx.users });
    await eventRoutes(scope, { outbox: ctx.store.outbox });
    await fileRoutes(scope, { files: ctx.files, folders: ctx.folders, moves: ctx.moves, publicBaseUrl: config.publicBaseUrl });
    await scope.register(async (uploadScope) => uploadRoutes(uploadScope, ctx));
    await scope.register(async (signedScope) => signedUploadRoutes(signedScope, ctx));
    await scope.register(async (tusScope) => tusRoutes(tusScope, ctx));
    await serveRoutes(scope, {
      downloads: ctx.downloads,
      batches: ctx.batches,
      blobs: ctx.blobs,
      guard: ctx.guard,
      telemetry: ctx.telemetry,
      serve: config.serve,
      publicBaseUrl: config.publicBaseUrl,
      batchBody: { maxFiles: config.batch.maxFiles, createsPerMinute: config.limits.batchCreatesPerMinute },
    });
    // The web app at / and /assets/ (WEB_APP=false: neither route exists).
    if (config.webApp) await webAppRoutes(scope);
  });
  return app;
}
