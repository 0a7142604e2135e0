/**
 * The production shape, end to end: Debian's nginx (deploy/nginx-file-server.conf) in front of
 * `node dist/main.js` with X-Accel-Redirect on. An upload, a Range download, a signed
 * download and a ZIP all go through nginx; downloads are handed to nginx's internal location.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.js';
import { nginxRequest, renderInto, startNginx, stopNginx, type Rendered, type Resp } from '../helpers/nginx.js';
import { freePort, processEnv, startServerProcess, type ServerProcess } from '../helpers/process.js';

const MiB = 1024 * 1024;
const data = randomBytes(6 * MiB + 321);
const sha = createHash('sha256').update(data).digest('hex');

describe('behind nginx with X-Accel-Redirect', () => {
  let rc: Rendered;
  let nginx: ChildProcess | undefined;
  let server: ServerProcess;
  let key: string;
  const call = (opts: Parameters<typeof nginxRequest>[1], body?: Buffer | string): Promise<Resp> =>
    nginxRequest(rc, { ...opts, headers: { 'x-service-token': server.env.AUTH_SERVICE_TOKEN!, ...opts.headers } }, body === undefined ? undefined : (req) => void req.end(body));
  const json = (r: Resp) => JSON.parse(r.body.toString('utf8'));

  beforeAll(async () => {
    const dir = await tempDir('sl-nginx-');
    const root = path.join(dir, 'uploads');
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    rc = renderInto(dir, ports, [], { uploadRoot: root, maxBodyMb: 64 });
    server = await startServerProcess(
      processEnv(root, {
        PORT: String(ports.upstream),
        ACCEL_REDIRECT_PREFIX: '/_protected/',
        TRUST_PROXY: '127.0.0.1',
        MAX_BODY_MB: '64',
        PUBLIC_BASE_URL: `https://localhost:${ports.https}`,
      }),
    );
    nginx = await startNginx(rc);
  }, 60_000);

  afterAll(async () => {
    await stopNginx(nginx);
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('uploads through nginx (init, a streamed part, complete)', async () => {
    const init = await call(
      { path: '/v1/files/init', method: 'POST', headers: { 'content-type': 'application/json' } },
      JSON.stringify({ mode: 'single', files: [{ name: 'clip café.bin', size: data.length }], folder: 'videos', user_id: 'u1' }),
    );
    expect(init.status, init.body.toString()).toBe(201);
    const uploadId = json(init).uploadId as string;
    const part = await call(
      { path: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': data.length } },
      data,
    );
    expect(part.status, part.body.toString()).toBe(200);
    const done = await call({ path: '/v1/files/complete', method: 'POST', headers: { 'content-type': 'application/json' } }, JSON.stringify({ uploadId }));
    expect(done.status, done.body.toString()).toBe(201);
    expect(json(done).sha256).toBe(sha);
    key = json(done).key;
  });

  it('hands /storage downloads to nginx: the app answers X-Accel-Redirect, nginx sends the bytes and honours Range', async () => {
    const urlPath = '/' + key.split('/').map(encodeURIComponent).join('/');
    const direct = await fetch(server.base + urlPath);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('x-accel-redirect')).toBe('/_protected' + urlPath);
    expect((await direct.arrayBuffer()).byteLength).toBe(0);

    const whole = await nginxRequest(rc, { path: urlPath });
    expect(whole.status).toBe(200);
    expect(createHash('sha256').update(whole.body).digest('hex')).toBe(sha);
    expect(whole.headers['x-accel-redirect']).toBeUndefined();
    expect(whole.headers['x-content-type-options']).toBe('nosniff');
    expect(whole.headers.etag).toBe(`"${sha}"`); // the app's content-hash ETag, not nginx's own

    const range = await nginxRequest(rc, { path: urlPath, headers: { range: 'bytes=1000-1999' } });
    expect(range.status).toBe(206);
    expect(range.headers['content-range']).toBe(`bytes 1000-1999/${data.length}`);
    expect(range.body.equals(data.subarray(1000, 2000))).toBe(true);
  });

  it('keeps CSP sandbox and attachment for active content served by nginx', async () => {
    const form = new FormData();
    form.append('file', new Blob(['<script>alert(1)</script>'], { type: 'text/html' }), 'page.html');
    const up = await fetch(`${server.base}/v1/files?user_id=u1`, { method: 'POST', headers: { 'x-service-token': server.env.AUTH_SERVICE_TOKEN! }, body: form });
    expect(up.status).toBe(201);
    const htmlKey = ((await up.json()) as { files: { key: string }[] }).files[0]!.key;
    const res = await nginxRequest(rc, { path: '/' + htmlKey.split('/').map(encodeURIComponent).join('/') });
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toMatch(/^sandbox; default-src 'none';/);
    expect(res.headers['content-disposition']).toMatch(/^attachment;/);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
  });

  it('serves a signed URL through nginx, and refuses a tampered one', async () => {
    const signed = await call({ path: `/v1/files/signed-url?key=${encodeURIComponent(key)}&expires_in=300&disposition=attachment` });
    expect(signed.status, signed.body.toString()).toBe(200);
    const url = new URL(json(signed).url);
    const ok = await nginxRequest(rc, { path: url.pathname + url.search });
    expect(ok.status).toBe(200);
    expect(ok.body.equals(data)).toBe(true);
    expect(ok.headers['content-disposition']).toMatch(/^attachment;/);
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
    const tampered = url.search.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`);
    expect((await nginxRequest(rc, { path: url.pathname + tampered })).status).toBe(403);
  });

  it('F-11c uploads in one request (POST /v1/files, multipart) through nginx: no 301', async () => {
    const boundary = 'sl-boundary-' + randomBytes(8).toString('hex');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="one.txt"\r\nContent-Type: text/plain\r\n\r\n`),
      Buffer.from('one request'),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const up = await call(
      { path: '/v1/files?user_id=u1', method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length } },
      body,
    );
    expect(up.status, up.body.toString()).toBe(201);
    const oneKey = json(up).files[0].key as string;
    const back = await nginxRequest(rc, { path: '/' + oneKey.split('/').map(encodeURIComponent).join('/') });
    expect(back.status).toBe(200);
    expect(back.body.toString()).toBe('one request');
  });

  it('F-11b the longest valid key works through nginx: metadata, signed URL and download (from .long/)', async () => {
    const seg = '中'.repeat(85); // 255 bytes
    const user = 'u'.repeat(128);
    const bytes = randomBytes(10_000);
    const init = await call(
      { path: '/v1/files/init', method: 'POST', headers: { 'content-type': 'application/json' } },
      JSON.stringify({ mode: 'single', files: [{ name: seg, size: bytes.length }], folder: Array(32).fill(seg).join('/'), user_id: user }),
    );
    expect(init.status, init.body.toString()).toBe(201);
    const uploadId = json(init).uploadId as string;
    expect((await call({ path: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length } }, bytes)).status).toBe(200);
    const done = await call({ path: '/v1/files/complete', method: 'POST', headers: { 'content-type': 'application/json' } }, JSON.stringify({ uploadId }));
    expect(done.status, done.body.toString()).toBe(201);
    const longKey = json(done).key as string;
    const urlPath = '/' + longKey.split('/').map(encodeURIComponent).join('/');
    expect(urlPath.length).toBeGreaterThan(25_000);

    const meta = await call({ path: `/v1/files/metadata${urlPath}` });
    expect(meta.status, meta.body.toString().slice(0, 200)).toBe(200);
    expect(json(meta).key).toBe(longKey);
    const dl = await nginxRequest(rc, { path: urlPath });
    expect(dl.status).toBe(200);
    expect(dl.body.equals(bytes)).toBe(true);
    const signed = await call({ path: `/v1/files/signed-url?key=${encodeURIComponent(longKey)}&expires_in=300` });
    expect(signed.status, signed.body.toString().slice(0, 200)).toBe(200);
    const url = new URL(json(signed).url);
    const viaSig = await nginxRequest(rc, { path: url.pathname + url.search });
    expect(viaSig.status).toBe(200);
    expect(viaSig.body.equals(bytes)).toBe(true);
  }, 30_000);

  it('F-11b a key that still lives at its own path sends nginx an ~11 KB X-Accel-Redirect, which it follows', async () => {
    const folder = Array(14).fill('中'.repeat(85)).join('/');
    const bytes = randomBytes(3_000);
    const init = await call(
      { path: '/v1/files/init', method: 'POST', headers: { 'content-type': 'application/json' } },
      JSON.stringify({ mode: 'single', files: [{ name: '中'.repeat(60), size: bytes.length }], folder, user_id: 'u1' }),
    );
    expect(init.status, init.body.toString()).toBe(201);
    const uploadId = json(init).uploadId as string;
    expect((await call({ path: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length } }, bytes)).status).toBe(200);
    const done = await call({ path: '/v1/files/complete', method: 'POST', headers: { 'content-type': 'application/json' } }, JSON.stringify({ uploadId }));
    expect(done.status, done.body.toString()).toBe(201);
    const deepPath = '/' + (json(done).key as string).split('/').map(encodeURIComponent).join('/');
    const direct = await fetch(server.base + deepPath);
    expect(direct.headers.get('x-accel-redirect')).toBe('/_protected' + deepPath); // at its own path, not .long/
    expect(deepPath.length).toBeGreaterThan(10_000);
    const dl = await nginxRequest(rc, { path: deepPath });
    expect(dl.status).toBe(200);
    expect(dl.body.equals(bytes)).toBe(true);
  });

  it('streams a ZIP batch through nginx that unzip accepts, byte for byte', async () => {
    const made = await call(
      { path: '/v1/files/batch-download', method: 'POST', headers: { 'content-type': 'application/json' } },
      JSON.stringify({ keys: [key], name: 'clips.zip', user_id: 'u1' }),
    );
    expect(made.status, made.body.toString()).toBe(201);
    const zip = await nginxRequest(rc, { path: new URL(json(made).url).pathname });
    expect(zip.status).toBe(200);
    expect(zip.headers['content-type']).toMatch(/^application\/zip/);
    const file = path.join(rc.dir, 'clips.zip');
    writeFileSync(file, zip.body);
    execFileSync('unzip', ['-tq', file]);
    const entry = execFileSync('unzip', ['-p', file, 'videos/clip café.bin'], { maxBuffer: 64 * MiB });
    expect(entry.equals(data)).toBe(true);
  });

  it('F-15 nginx logs the downloads above without sig= or the batch token', () => {
    const log = readFileSync(rc.accessLog, 'utf8');
    expect(log).toMatch(/"GET \/get\/[A-Za-z0-9_-]+ HTTP\/1\.1" 200 /);
    expect(log).toContain('"GET /v1/files/batch-download/[redacted] HTTP/1.1" 200 ');
    expect(log).not.toMatch(/sig=|exp=|uploadId=/);
    expect(log).not.toMatch(/batch-download\/(?!\[redacted\])[A-Za-z0-9_-]/);
  });
});
