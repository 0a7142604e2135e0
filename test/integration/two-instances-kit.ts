/**
 * Calls for the two-instance suites: one request to an instance or to nginx, with the
 * service token or a Bearer token, answering which instance served it.
 */
import http from 'node:http';
import type { Cluster } from '../helpers/cluster.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The instance that answered (through nginx: from X-Upstream; directly: the one called). */
  via: 'A' | 'B';
  json(): any;
}

export interface CallOptions {
  /** Bearer token; without it the service token is sent (unless `anonymous`). */
  token?: string;
  anonymous?: boolean;
  json?: unknown;
  body?: Buffer;
  headers?: Record<string, string>;
}

/** One request over a fresh connection; `target` is `c.proxy`, `c.a.base` or `c.b.base`. */
export function call(c: Cluster, target: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const url = new URL(path, target);
  const body = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  else if (!opts.anonymous) headers['x-service-token'] = c.env.AUTH_SERVICE_TOKEN!;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  else if (body) headers['content-type'] ??= 'application/octet-stream';
  if (body) headers['content-length'] = body.length;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const upstream = res.headers['x-upstream'];
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buf,
          via: c.nameOf(typeof upstream === 'string' ? upstream : target),
          json: () => JSON.parse(buf.toString('utf8')),
        });
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.end(body);
  });
}

/** The public path of a stored key (`/storage/...`, each segment encoded). */
export const storagePath = (key: string): string => '/' + key.split('/').map(encodeURIComponent).join('/');

/** The claims of a JWT, unverified (the tests compare jtis and kids). */
export function claimsOf(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  const part = (s: string | undefined) => JSON.parse(Buffer.from(s ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: part(h), payload: part(p) };
}

/** Polls `check` until it holds or `ms` pass; resolves with how long it took, or null. */
export async function within(ms: number, check: () => Promise<boolean>, everyMs = 20): Promise<number | null> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > ms) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
