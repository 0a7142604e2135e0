/**
 * pino options: secrets never reach the log. Headers carrying credentials are censored,
 * and URLs lose their `sig` query value and batch-download tokens.
 */
import type { FastifyServerOptions } from 'fastify';

const REDACTED = '[redacted]';

/** `/get/x?exp=1&sig=abc` → `/get/x?exp=1&sig=[redacted]`; batch tokens likewise. */
export function redactUrl(url: string): string {
  return url
    .replace(/([?&](?:sig|token|access_token|refresh_token)=)[^&#]*/gi, `$1${REDACTED}`)
    .replace(/(\/v1\/files\/batch-download\/)[^/?#]+/, `$1${REDACTED}`);
}

/** `stream`: where the lines go (default stdout); tests pass one to read what was logged. */
export function loggerOptions(level: string, stream?: { write(line: string): void }): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-service-token"]',
        'res.headers["set-cookie"]',
        '*.password',
        '*.refresh_token',
        '*.access_token',
        '*.token',
      ],
      censor: REDACTED,
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
        return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
      },
    },
  };
}
