/**
 * Server entry point: configuration, the app, periodic housekeeping, graceful shutdown.
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish for up to
 * SHUTDOWN_GRACE_SECONDS, then close the database and exit.
 */
import { buildApp } from './app.js';
import { ConfigError } from './config/config.js';
import { exitOnConfigError, runtimeConfig } from './config/runtime.js';
import { startBanner } from './ops/banner.js';
import { startGcPacer } from './ops/gc-pacer.js';
import { describeListenError } from './ops/preflight.js';

/** A start-up failure with a known cause: one line naming it on stderr, exit 1. */
function fail(message: string): never {
  process.stderr.write(`cannot start: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const warnings: string[] = [];
  let config;
  try {
    config = runtimeConfig((m) => warnings.push(m));
  } catch (err) {
    exitOnConfigError(err);
  }
  const app = await buildApp(config).catch((err: unknown) => {
    if (err instanceof ConfigError) exitOnConfigError(err); // e.g. a DATABASE_URL no engine opens
    const e = err as NodeJS.ErrnoException;
    // File-system errors while opening the data directory, the database or the keys.
    if (typeof e?.code === 'string' && e.message) fail(`${e.message} (check UPLOAD_ROOT and its permissions)`);
    throw err;
  });
  for (const w of warnings) app.log.warn(w);
  // Streamed bytes' buffers are collected every few MiB instead of ~32 MB (ops/gc-pacer.ts); on
  // S3, whose reads leave twice the garbage, with a full collection at every step.
  const gcPacer = config.streamGcBytes > 0 ? startGcPacer({ stepBytes: config.streamGcBytes, majorSteps: config.storageBackend === 's3' ? 1 : 4 }) : null;
  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app.close().catch(() => undefined);
    fail(describeListenError(err, config.host, config.port) ?? (err as Error).message);
  }
  if (process.stdout.isTTY) process.stdout.write(startBanner(config, address));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gcPacer?.stop();
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

// Anything else is a bug: keep its stack.
main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
