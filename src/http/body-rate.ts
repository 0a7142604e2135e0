/**
 * A minimum rate for request bodies (docs/api.md, Limits: BODY_MIN_BYTES_PER_SECOND over
 * BODY_MIN_RATE_WINDOW_SECONDS), so a trickle (one byte every 50 s keeps the idle timeout at
 * bay) cannot hold a connection and a temp file forever. The idle timeout stays as it is.
 *
 * Only time we were reading counts. A body we have not started to read yet (authorisation, a
 * database call) or have paused ourselves (the disk is slower than the client: pipe
 * back-pressure) is not the client's fault; Node then stops reading the socket, so the client
 * cannot send either. "Reading" is `readableFlowing === true` on the request stream.
 *
 * Too slow: 408 `body_too_slow` (JSON) if no answer has started, and the connection closes;
 * otherwise the socket is destroyed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { errorBody, HTTP_STATUS } from './error-handler.js';

export interface BodyRateLimits {
  /** 0: no minimum. */
  minBytesPerSecond: number;
  windowMs: number;
}

interface Watched {
  req: IncomingMessage;
  res: ServerResponse;
  lastTick: number;
  lastBytes: number;
  /** Time spent reading in the current window, and the bytes that came in meanwhile. */
  readingMs: number;
  bytes: number;
}

/** A request announces a body by Content-Length > 0 or Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export class BodyRateMonitor {
  private readonly watched = new Set<Watched>();

  constructor(
    private readonly limits: BodyRateLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.limits.minBytesPerSecond > 0;
  }

  /** How often tick() should run: a few times per window. */
  get tickMs(): number {
    return Math.max(100, Math.min(1000, Math.floor(this.limits.windowMs / 5)));
  }

  get size(): number {
    return this.watched.size;
  }

  watch(req: IncomingMessage, res: ServerResponse): void {
    if (!this.enabled || !hasBody(req)) return;
    const entry: Watched = { req, res, lastTick: this.now(), lastBytes: req.socket?.bytesRead ?? 0, readingMs: 0, bytes: 0 };
    this.watched.add(entry);
    const forget = (): void => void this.watched.delete(entry);
    req.once('end', forget);
    req.once('close', forget);
    res.once('close', forget);
  }

  /** Measures every watched body since the last tick; cuts those below the minimum rate. */
  tick(): void {
    const now = this.now();
    for (const entry of this.watched) {
      const elapsed = now - entry.lastTick;
      entry.lastTick = now;
      const read = entry.req.socket?.bytesRead ?? entry.lastBytes;
      entry.bytes += read - entry.lastBytes;
      entry.lastBytes = read;
      if (entry.req.complete || entry.req.destroyed) {
        this.watched.delete(entry);
        continue;
      }
      if (entry.req.readableFlowing !== true) continue; // not reading: not the client's fault
      entry.readingMs += elapsed;
      if (entry.readingMs < this.limits.windowMs) continue;
      const rate = (entry.bytes * 1000) / entry.readingMs;
      entry.readingMs = 0;
      entry.bytes = 0;
      if (rate < this.limits.minBytesPerSecond) {
        this.watched.delete(entry);
        cut(entry.res, rate, this.limits.minBytesPerSecond);
      }
    }
  }
}

function cut(res: ServerResponse, rate: number, min: number): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(
    errorBody(HTTP_STATUS.body_too_slow, 'body_too_slow', `The request body arrived at ${Math.floor(rate)} bytes/s, below the minimum of ${min} bytes/s`),
  );
  // Connection: close makes Node close the socket once this is out; the handler still waiting
  // for the body then sees the request aborted and cleans up (temp files, locks).
  res.writeHead(HTTP_STATUS.body_too_slow, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}

/** Watches every request with a body; one timer for the whole server. */
export function registerBodyRate(app: FastifyInstance, limits: BodyRateLimits): BodyRateMonitor {
  const monitor = new BodyRateMonitor(limits);
  if (!monitor.enabled) return monitor;
  app.addHook('onRequest', (request, reply, done) => {
    monitor.watch(request.raw, reply.raw);
    done();
  });
  const timer = setInterval(() => monitor.tick(), monitor.tickMs);
  timer.unref();
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer);
    done();
  });
  return monitor;
}
