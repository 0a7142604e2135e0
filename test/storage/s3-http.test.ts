/**
 * The server on S3 over HTTP, where S3 shows through: S3_DOWNLOAD_REDIRECT (302 to a presigned
 * GET after every check, ranges included), /healthz reporting the bucket's reachability, and
 * S3 going away mid-life answered as clean 503 JSON (then coming back) instead of a 500.
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { describeS3, freshS3, s3Settings, type S3Place } from '../helpers/s3.js';
import { bytes, complete, initOne, MiB, putPart, sha256 } from '../files/upload-kit.js';

const path = (key: string) => '/' + key.split('/').map(encodeURIComponent).join('/');

/** A record through the one-request upload (POST /v1/files), as user `u`. */
async function storeFile(s: TestServer, name: string, data: Buffer, mime = 'text/plain'): Promise<{ key: string; sha256: string }> {
  const boundary = 'b' + Date.now();
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${mime}\r\n\r\n`),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const res = await s.asService({ method: 'POST', url: '/v1/files?user_id=u', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: body });
  if (res.statusCode !== 201) throw new Error(`upload failed: ${res.statusCode} ${res.body}`);
  const out = res.json();
  return Array.isArray(out.files) ? out.files[0] : out;
}

describeS3('S3_DOWNLOAD_REDIRECT: a 302 to a presigned GET, after every check', () => {
  let s: TestServer;
  let token: string;
  const data = bytes(100_000);
  let file: { key: string; sha256: string };
  beforeAll(async () => {
    s = await startTestServer({ ...(await freshS3('redirect')).env, S3_DOWNLOAD_REDIRECT: 'true', PUBLIC_STORAGE: 'false' });
    token = await s.tokenFor('u');
    file = await storeFile(s, 'rapport été 🎉.txt', data);
  });
  afterAll(async () => s?.close());
  const get = (url: string, headers: Record<string, string> = {}) => s.asBearer(token, { method: 'GET', url, headers });

  it('/storage: 302 to a URL valid ≤ 60 s that serves the bytes with the file\'s type and name; a Range is sent again to it', async () => {
    const res = await get(path(file.key));
    expect(res.statusCode).toBe(302);
    expect(res.headers['cache-control']).toBe('no-store');
    const location = new URL(res.headers.location as string);
    expect(location.origin).toBe(new URL(s3Settings().endpoint).origin);
    expect(Number(location.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(60);
    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(sha256(Buffer.from(await direct.arrayBuffer()))).toBe(sha256(data));
    expect(direct.headers.get('content-type')).toBe('text/plain');
    expect(direct.headers.get('content-disposition')).toContain("filename*=UTF-8''rapport%20%C3%A9t%C3%A9%20%F0%9F%8E%89.txt");
    expect(direct.headers.get('content-disposition')).toBe((await s.asBearer(token, { method: 'HEAD', url: path(file.key) })).headers['content-disposition']);

    const ranged = await get(path(file.key), { range: 'bytes=10-19' });
    expect(ranged.statusCode).toBe(302);
    const part = await fetch(ranged.headers.location as string, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
  });

  it('checks come first: no credentials 401, a match 304, a failed precondition 412, a range past the end 416 — from the server', async () => {
    expect((await s.app.inject({ method: 'GET', url: path(file.key) })).statusCode).toBe(401);
    const etag = `"${file.sha256}"`;
    const notModified = await get(path(file.key), { 'if-none-match': etag });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.headers.location).toBeUndefined();
    expect((await get(path(file.key), { 'if-match': '"other"' })).statusCode).toBe(412);
    expect((await get(path(file.key), { range: `bytes=${data.length}-` })).statusCode).toBe(416);
  });

  it('answered by the server itself: HEAD, several ranges, and preconditions S3 would judge by its own ETag', async () => {
    const head = await s.asBearer(token, { method: 'HEAD', url: path(file.key) });
    expect(head.statusCode).toBe(200);
    expect(head.headers.location).toBeUndefined();
    const multi = await get(path(file.key), { range: 'bytes=0-1,5-6' });
    expect(multi.statusCode).toBe(206);
    expect(multi.headers['content-type']).toMatch(/^multipart\/byteranges/);
    const ifRange = await get(path(file.key), { range: 'bytes=0-9', 'if-range': `"${file.sha256}"` });
    expect(ifRange.statusCode).toBe(206);
    expect(ifRange.rawPayload.equals(data.subarray(0, 10))).toBe(true);
    const ifMatch = await get(path(file.key), { 'if-match': `"${file.sha256}"` });
    expect(ifMatch.statusCode).toBe(200);
    expect(sha256(ifMatch.rawPayload)).toBe(sha256(data));
  });

  it('/get: a valid signature redirects (no Referer leaves with it), a bad one is 403 — and a chunked upload\'s file redirects too', async () => {
    const id = await initOne(s, 'u', { name: 'big.bin', size: 5 * MiB + 3 }, { partSize: 5 * MiB });
    const big = bytes(5 * MiB + 3);
    expect((await putPart(s, id, 1, big.subarray(0, 5 * MiB))).statusCode).toBe(200);
    expect((await putPart(s, id, 2, big.subarray(5 * MiB))).statusCode).toBe(200);
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    const signed = (await get(`/v1/files/signed-url?key=${encodeURIComponent(done.json().key)}&expires_in=600`)).json().url as string;
    const viaGet = await s.app.inject({ method: 'GET', url: new URL(signed).pathname + new URL(signed).search });
    expect(viaGet.statusCode).toBe(302);
    expect(viaGet.headers['referrer-policy']).toBe('no-referrer');
    const direct = await fetch(viaGet.headers.location as string);
    expect(sha256(Buffer.from(await direct.arrayBuffer()))).toBe(sha256(big));
    const forged = new URL(signed);
    forged.searchParams.set('sig', 'A'.repeat(43));
    expect((await s.app.inject({ method: 'GET', url: forged.pathname + forged.search })).statusCode).toBe(403);
  });
});

/** A TCP relay to the S3 server that can be cut and restored, to take S3 away from a running server. */
async function relay(target: { host: string; port: number }): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await open();
  const cut = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const sock of sockets) sock.destroy();
    });
  };
  return { port, cut, restore: open, close: cut };
}

describeS3('the server on S3 when S3 goes away', () => {
  let s: TestServer;
  let place: S3Place;
  let link: Awaited<ReturnType<typeof relay>>;
  beforeAll(async () => {
    place = await freshS3('outage');
    const endpoint = new URL(s3Settings().endpoint);
    link = await relay({ host: endpoint.hostname, port: Number(endpoint.port) });
    s = await startTestServer({ ...place.env, S3_ENDPOINT: `http://127.0.0.1:${link.port}` });
  });
  afterAll(async () => {
    await s?.close();
    await link?.close();
    await place?.drop();
  });

  it('/healthz says the bucket is reachable (no disk figures); S3 gone: 503 JSON with Retry-After for reads, uploads and /healthz; back: 200 again', async () => {
    const healthy = await s.app.inject({ method: 'GET', url: '/healthz' });
    expect(healthy.statusCode).toBe(200);
    expect(healthy.json()).toMatchObject({ status: 'ok', storage: { writable: true, disk_total: 0, disk_free: 0, used_percent: 0 } });
    const file = await storeFile(s, 'kept.txt', Buffer.from('still here'));

    await link.cut();
    const read = await s.app.inject({ method: 'GET', url: path(file.key) });
    expect(read.statusCode).toBe(503);
    expect(read.headers['retry-after']).toBe('1');
    expect(read.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'storage_unavailable', message: 'The object storage is unavailable; retry shortly' });
    const upload = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { user_id: 'u', mode: 'single', files: [{ name: 'n.txt', size: 3 }] } });
    expect(upload.statusCode).toBe(503);
    expect(upload.json().code).toBe('storage_unavailable');
    const down = await s.app.inject({ method: 'GET', url: '/healthz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'degraded', storage: { writable: false }, db: 'ok' });

    await link.restore();
    expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const again = await s.app.inject({ method: 'GET', url: path(file.key) });
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe('still here');
  });
});
