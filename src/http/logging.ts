/**
 * pino options: secrets never reach the log. Headers carrying credentials are censored,
 * and URLs lose batch-download tokens and the value of every query parameter whose name looks
 * secret (`sig`, `token`, `X-Service-Token`, `api_key`, `password` …).
 */
import type { FastifyServerOptions } from 'fastify';

const REDACTED = '[redacted]';

/**
 * A query parameter whose name looks like it carries a secret: clients put credentials in
 * unexpected places (`?X-Service-Token=…`, `?api_key=…`), and a log line is no place for them.
 * Over-matching only hides a value from the log.
 */
const SECRET_NAME = /token|secret|key|sig|passw|pwd|credential|auth/i;

const decodedName = (name: string): string => {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
};

/** `/get/x?exp=1&sig=abc` → `/get/x?exp=1&sig=[redacted]`; batch tokens likewise. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q === -1 ? url : url.slice(0, q)).replace(/(\/v1\/files\/batch-download\/)[^/?#]+/, `$1${REDACTED}`);
  if (q === -1) return path;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq !== -1 && SECRET_NAME.test(decodedName(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
  return `${path}?${query}`;
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
