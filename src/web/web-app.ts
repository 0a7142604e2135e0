/**
 * Serves the web app built by web/build.mjs (dist/webapp/): GET / is index.html (no-cache, strict
 * CSP), GET /assets/<name> a hashed asset (immutable for a year, gzip/brotli copies made at build
 * time chosen by Accept-Encoding). Only files the build wrote are served: the asset list is read
 * once at start and a request names an entry of it, never a path. Without a build (no
 * index.html) nothing is registered and a warning says how to build; WEB_APP=false does the same
 * silently (app.ts). The page uses hash routes (/#/…), so no other path is claimed: the API,
 * /storage, /get and /docs are untouched.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ASSET_CACHE_CONTROL, COMMON_HEADERS, PAGE_HEADERS, assetType } from './headers.js';

/** dist/webapp/, from src/web/ (tests) and dist/web/ (built) alike. */
export const WEB_APP_ROOT = fileURLToPath(new URL('../../dist/webapp/', import.meta.url));

interface Asset {
  file: string;
  type: string;
  /** Precompressed copies beside the file (name.br, name.gz), when the build made them. */
  encodings: Array<'br' | 'gzip'>;
}

interface Loaded {
  body: Buffer;
  etag: string;
}

const assetParams = z.object({ name: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/) });

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** True when the request's If-None-Match names this ETag (weak or strong), or is `*`. */
function notModified(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** The encodings the client takes, by the q-values it gives (absent or q=0 means no). */
function accepted(request: FastifyRequest): Set<string> {
  const header = request.headers['accept-encoding'];
  const result = new Set<string>();
  if (typeof header !== 'string') return result;
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (coding && (q === undefined || Number(q) > 0)) result.add(coding);
  }
  return result;
}

function listAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const names = new Set(readdirSync(dir));
  for (const name of names) {
    const type = assetType(name);
    if (!type) continue; // .br/.gz copies and anything unexpected are not served by name
    const encodings: Asset['encodings'] = [];
    if (names.has(`${name}.br`)) encodings.push('br');
    if (names.has(`${name}.gz`)) encodings.push('gzip');
    assets.set(name, { file: path.join(dir, name), type, encodings });
  }
  return assets;
}

export interface WebAppOptions {
  /** The build's directory (default WEB_APP_ROOT). */
  root?: string;
}

export async function webAppRoutes(app: FastifyInstance, opts: WebAppOptions = {}): Promise<void> {
  const root = opts.root ?? WEB_APP_ROOT;
  const indexFile = path.join(root, 'index.html');
  if (!existsSync(indexFile)) {
    app.log.warn({ root }, 'WEB_APP is on but the web app is not built (run `npm run build`): / answers 404');
    return;
  }
  // Read at start: a rebuild is picked up by a restart, like the server's own code.
  const page = readFileSync(indexFile);
  const pageTag = etagOf(page);
  const assets = listAssets(path.join(root, 'assets'));
  const cache = new Map<string, Loaded>();
  const load = (file: string): Loaded => {
    let hit = cache.get(file);
    if (!hit) {
      const body = readFileSync(file);
      hit = { body, etag: etagOf(body) };
      cache.set(file, hit);
    }
    return hit;
  };

  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    void reply.headers(PAGE_HEADERS).header('ETag', pageTag).type('text/html; charset=utf-8');
    if (notModified(request, pageTag)) return reply.code(304).send();
    return reply.send(page);
  });

  app.get('/assets/:name', { schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const parsed = assetParams.safeParse(request.params);
    const asset = parsed.success ? assets.get(parsed.data.name) : undefined;
    if (!asset) return reply.callNotFound();
    const encoding = asset.encodings.find((e) => accepted(request).has(e));
    const file = encoding ? `${asset.file}.${encoding === 'br' ? 'br' : 'gz'}` : asset.file;
    const { body, etag } = load(file);
    void reply.headers(COMMON_HEADERS).header('Cache-Control', ASSET_CACHE_CONTROL).header('ETag', etag).type(asset.type);
    if (asset.encodings.length > 0) void reply.header('Vary', 'Accept-Encoding');
    if (encoding) void reply.header('Content-Encoding', encoding);
    if (notModified(request, etag)) return reply.code(304).send();
    return reply.send(body);
  });
}
