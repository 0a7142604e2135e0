/**
 * Server entry point: configuration, the app, periodic housekeeping, graceful shutdown.
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish for up to
 * SHUTDOWN_GRACE_SECONDS, then close the database and exit.
 */
import { buildApp } from './app.js';
import { exitOnConfigError, runtimeConfig } from './config/runtime.js';

async function main(): Promise<void> {
  const warnings: string[] = [];
  let config;
  try {
    config = runtimeConfig((m) => warnings.push(m));
  } catch (err) {
    exitOnConfigError(err);
  }
  const app = await buildApp(config);
  for (const w of warnings) app.log.warn(w);
  await app.listen({ port: config.port, host: config.host });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing requests in flight');
    const force = setTimeout(() => {
      app.log.warn('grace period over: closing remaining connections');
      app.server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
