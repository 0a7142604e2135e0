/**
 * The rendered deploy/nginx-file-server.conf, run by a real nginx in front of a fake app:
 * long keys (F-11b), the one-request upload URL (F-11c), the access log (F-15), the
 * per-address connection cap and nginx's own errors in the JSON error shape.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxRequest, renderInto, startNginx, stopNginx, type Rendered, type Resp } from '../helpers/nginx.js';
import { freePort } from '../helpers/process.js';

const CAP = 3; // --max-conn-per-address for this nginx
const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

// The longest valid key: a 128-character user id, 32 folders of 255 bytes, a 255-byte name.
const seg = '中'.repeat(85);
const LONGEST_KEY = ['storage', 'u'.repeat(128), ...Array(32).fill(seg), `${'a'.repeat(32)}_${seg}`].join('/');
// The longest key that still lives at its own path (< PATH_MAX under the test root): its
// X-Accel-Redirect header is ~11 KB.
const DEEP_KEY = ['storage', 'u1', ...Array(14).fill(seg), `${'b'.repeat(32)}_${'中'.repeat(60)}`].join('/');

describe('nginx site in front of a fake app', () => {
  let dir: string;
  let rc: Rendered;
  let nginx: ChildProcess | undefined;
  let upstream: http.Server;
  const seen: Array<{ method: string; url: string; bytes: number }> = [];
  const held: http.ServerResponse[] = [];
  let onHold: (() => void) | undefined;
  const deepBytes = Buffer.from('deep file bytes');

  const request = (opts: Parameters<typeof nginxRequest>[1], body?: string | Buffer): Promise<Resp> =>
    nginxRequest(rc, opts, body === undefined ? undefined : (req) => void req.end(body));
  const json = (r: Resp) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-nginx-site-'));
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    rc = renderInto(dir, ports, ['--max-conn-per-address', String(CAP)]);
    mkdirSync(join(rc.uploadRoot, 'storage', 'u1'), { recursive: true });
    writeFileSync(join(rc.uploadRoot, 'storage', 'u1', 'f.bin'), 'plain file');
    mkdirSync(join(rc.uploadRoot, DEEP_KEY, '..'), { recursive: true });
    writeFileSync(join(rc.uploadRoot, DEEP_KEY), deepBytes);
    writeFileSync(join(rc.uploadRoot, 'metadata.sqlite'), 'the database');

    // As large a request line as the real app takes (src/app.ts: maxHeaderSize 64 KiB).
    upstream = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
      const url = req.url ?? '';
      const entry = { method: req.method ?? '', url, bytes: 0 };
      seen.push(entry);
      req.on('data', (c: Buffer) => (entry.bytes += c.length));
      req.on('end', () => {
        if (url.startsWith('/storage/deep')) {
          res.writeHead(200, { 'X-Accel-Redirect': '/_protected/' + encodePath(DEEP_KEY) }).end();
        } else if (url.startsWith('/storage/db')) {
          res.writeHead(200, { 'X-Accel-Redirect': '/_protected/metadata.sqlite' }).end();
        } else if (url.startsWith('/storage/') || url.startsWith('/get/')) {
          res.writeHead(200, { 'X-Accel-Redirect': '/_protected/storage/u1/f.bin' }).end();
        } else if (url.startsWith('/v1/files/hold')) {
          held.push(res);
          onHold?.();
        } else if (url.startsWith('/v1/boom')) {
          req.socket.destroy();
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ method: req.method, url, bytes: entry.bytes }));
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(rc.upstreamPort, '127.0.0.1', r));
    nginx = await startNginx(rc);
  }, 30_000);

  afterAll(async () => {
    await stopNginx(nginx);
    for (const r of held) r.destroy();
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('F-11b keys up to the longest valid key pass through nginx', () => {
    it('a ~25 KB request line reaches the app on /storage and /v1/files/metadata (no 414)', async () => {
      const urlPath = '/' + encodePath(LONGEST_KEY);
      expect(urlPath.length).toBeGreaterThan(25_000);
      const dl = await request({ path: urlPath });
      expect(dl.status).toBe(200);
      expect(dl.body.toString()).toBe('plain file');
      const meta = await request({ path: `/v1/files/metadata${urlPath}` });
      expect(meta.status).toBe(200);
      expect(json(meta).url).toBe(`/v1/files/metadata${urlPath}`);
      // The port-80 redirect keeps the whole URI as well.
      const plain = await request({ path: urlPath, tls: false });
      expect(plain.status).toBe(308);
    });

    it('an ~11 KB X-Accel-Redirect header from the app is followed (no 502 "too big header")', async () => {
      expect(encodePath(DEEP_KEY).length).toBeGreaterThan(10_000);
      const r = await request({ path: '/storage/deep' });
      expect(r.status).toBe(200);
      expect(r.body.equals(deepBytes)).toBe(true);
    });
  });

  describe('F-11c POST /v1/files through nginx', () => {
    it('reaches the app (no 301 to /v1/files/)', async () => {
      const body = 'x'.repeat(1000);
      const r = await request({ path: '/v1/files?user_id=u1', method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, body);
      expect(r.status).toBe(200);
      expect(r.headers.location).toBeUndefined();
      expect(json(r)).toEqual({ method: 'POST', url: '/v1/files?user_id=u1', bytes: 1000 });
    });
  });

  describe('F-15 the access log redacts what the app redacts', () => {
    it('logs no query string (sig=) and masks the batch-download token; the default log gets nothing', async () => {
      const sig = 'f1654cf334ea' + 'c0ffee'.repeat(8);
      const batch = 'cIi1PWbxTmPGCWlnP1ZC5OR5Z78Ct_6dCBc1JdJPMo8';
      expect((await request({ path: `/get/c3RvcmFnZQ?exp=1796045115&sig=${sig}` })).status).toBe(200);
      expect((await request({ path: `/v1/files/batch-download/${batch}` })).status).toBe(200);
      expect((await request({ path: `/get/c3RvcmFnZQ?exp=1796045115&sig=${sig}`, tls: false })).status).toBe(308);

      const text = () => (existsSync(rc.accessLog) ? readFileSync(rc.accessLog, 'utf8') : '');
      for (let i = 0; i < 100 && text().split('\n').filter((l) => l.includes('/get/c3RvcmFnZQ')).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 20)); // nginx writes the line right after the response
      }
      const log = text();
      expect(log).toMatch(/"GET \/get\/c3RvcmFnZQ HTTP\/1\.1" 200 /);
      expect(log).toMatch(/"GET \/get\/c3RvcmFnZQ HTTP\/1\.1" 308 /);
      expect(log).toContain('"GET /v1/files/batch-download/[redacted] HTTP/1.1" 200 ');
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
        const content = readFileSync(join(dir, f), 'utf8');
        expect(content, f).not.toContain(sig);
        expect(content, f).not.toContain(batch);
        expect(content, f).not.toContain('exp=');
      }
      // The site's access_log replaces the http-level (Debian default, combined) one.
      const fallback = existsSync(rc.defaultAccessLog) ? readFileSync(rc.defaultAccessLog, 'utf8') : '';
      expect(fallback).not.toContain('/get/');
    });
  });

  describe('connections per client address (limit_conn) and nginx errors as JSON', () => {
    it(`answers 429 JSON to a ${CAP + 1}th request in progress from one address`, async () => {
      const all = new Promise<void>((resolve) => {
        onHold = () => held.length >= CAP && resolve();
      });
      const slow = Array.from({ length: CAP }, (_, i) => request({ path: `/v1/files/hold/${i}` }));
      await all;
      const extra = await request({ path: '/v1/files/hold/extra' });
      expect(extra.status).toBe(429);
      expect(extra.headers['content-type']).toMatch(/^application\/json/);
      expect(json(extra)).toMatchObject({ statusCode: 429, code: 'too_many_connections' });
      expect(seen.some((s) => s.url === '/v1/files/hold/extra')).toBe(false);
      for (const r of held.splice(0)) r.writeHead(200).end('ok');
      expect((await Promise.all(slow)).map((r) => r.status)).toEqual(Array(CAP).fill(200));
      // Once they are done, the address may connect again.
      expect((await request({ path: '/v1/files/after' })).status).toBe(200);
    });

    it('answers 413, 404 and 502 of its own in the JSON error shape', async () => {
      const big = await nginxRequest(rc, { path: '/v1/files/upload', method: 'POST', headers: { 'Content-Length': 3 * 1024 * 1024 } }, (req) => {
        req.flushHeaders();
      });
      expect(big.status).toBe(413);
      expect(json(big)).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
      const internal = await request({ path: '/_protected/storage/u1/f.bin' });
      expect(internal.status).toBe(404);
      expect(json(internal)).toMatchObject({ statusCode: 404, code: 'not_found' });
      const down = await request({ path: '/v1/boom' });
      expect(down.status).toBe(502);
      expect(json(down)).toMatchObject({ statusCode: 502, code: 'upstream_unavailable' });
    });

    it('sends only storage/ and .long/ after X-Accel-Redirect, never the database beside them', async () => {
      const r = await request({ path: '/storage/db' });
      expect(r.status).toBe(404);
      expect(r.body.toString()).not.toContain('the database');
    });
  });
});
