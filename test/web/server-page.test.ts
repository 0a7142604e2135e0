/**
 * The web app as the server hands it out: / (index.html, no-cache, strict CSP), the hashed
 * assets it names (immutable, precompressed copies by Accept-Encoding, SRI that matches), nothing
 * else claimed, and WEB_APP=false turning both off. The page is the one the test global setup
 * built (web/build.mjs → dist/webapp/), whatever web/src/ holds now.
 */
import { createHash } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

let server: TestServer;
let page: string;
let assets: Array<{ href: string; integrity: string }>;

beforeAll(async () => {
  server = await startTestServer();
  const res = await server.app.inject({ method: 'GET', url: '/' });
  page = res.body;
  assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)" integrity="([^"]+)"/g)].map((m) => ({ href: m[1]!, integrity: m[2]! }));
});
afterAll(() => server.close());

describe('GET / (WEB_APP=true, the default)', () => {
  it('is the built index.html, revalidated on every load, under a CSP that allows nothing inline or foreign', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toMatch(/^<!doctype html>/i);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    const csp = String(res.headers['content-security-policy']);
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('style-src')).toEqual(["'self'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(directives.get('base-uri')).toEqual(["'none'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('form-action')).toEqual(["'self'"]);
    expect(csp).not.toMatch(/unsafe-|\*|https?:/);
    // The page loads its code from hashed assets only: no inline script or style to allow.
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(assets.some((a) => a.href.endsWith('.js'))).toBe(true);
  });

  it('answers 304 to its own ETag, and HEAD without a body', async () => {
    const first = await server.app.inject({ method: 'GET', url: '/' });
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^".+"$/);
    const again = await server.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers['content-security-policy']).toBe(first.headers['content-security-policy']);
    const other = await server.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': '"stale"' } });
    expect(other.statusCode).toBe(200);
    const head = await server.app.inject({ method: 'HEAD', url: '/' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });
});

describe('GET /assets/<name>.<hash>.<ext>', () => {
  it('serves every asset the page names for a year (immutable), with the bytes its integrity attribute pins', async () => {
    expect(assets.length).toBeGreaterThan(0);
    for (const { href, integrity } of assets) {
      expect(href).toMatch(/^\/assets\/[A-Za-z0-9_-]+\.[A-Z0-9]{8}\.(js|css)$/);
      const res = await server.app.inject({ method: 'GET', url: href });
      expect(res.statusCode, href).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-type']).toBe(href.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(`sha384-${createHash('sha384').update(res.rawPayload).digest('base64')}`).toBe(integrity);
    }
  });

  it('sends the brotli or gzip copy the client accepts, decoding to the same bytes', async () => {
    for (const { href } of assets) {
      const plain = (await server.app.inject({ method: 'GET', url: href })).rawPayload;
      const br = await server.app.inject({ method: 'GET', url: href, headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(br.headers['content-encoding']).toBe('br');
      expect(br.headers.vary).toBe('Accept-Encoding');
      expect(brotliDecompressSync(br.rawPayload).equals(plain)).toBe(true);
      const gz = await server.app.inject({ method: 'GET', url: href, headers: { 'accept-encoding': 'gzip, br;q=0' } });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gz.rawPayload).equals(plain)).toBe(true);
      expect(gz.headers.etag).not.toBe(br.headers.etag);
      const cached = await server.app.inject({ method: 'GET', url: href, headers: { 'accept-encoding': 'gzip', 'if-none-match': String(gz.headers.etag) } });
      expect(cached.statusCode).toBe(304);
    }
  });

  it('serves only what the build listed: unknown names, compressed copies by name and paths out are 404 JSON', async () => {
    const js = assets.find((a) => a.href.endsWith('.js'))!.href;
    for (const url of ['/assets/nope.ABCDEFGH.js', `${js}.br`, `${js}.gz`, '/assets/..%2Findex.html', '/assets/..%2F..%2Fpackage.json', '/assets/', '/index.html', '/assets']) {
      const res = await server.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
    }
  });
});

describe('the page beside the API', () => {
  it('leaves the API, /docs and /openapi.json as they were, and stays out of the OpenAPI document', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/auth/me' })).statusCode).toBe(401);
    const doc = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/assets'))).toEqual([]);
  });
});

describe('WEB_APP=false', () => {
  it('answers 404 at / and for the assets; the API still answers', async () => {
    const off = await startTestServer({ WEB_APP: 'false' });
    try {
      const root = await off.app.inject({ method: 'GET', url: '/' });
      expect(root.statusCode).toBe(404);
      expect(root.json()).toMatchObject({ code: 'not_found' });
      expect((await off.app.inject({ method: 'GET', url: assets[0]!.href })).statusCode).toBe(404);
      expect((await off.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await off.close();
    }
  });
});
