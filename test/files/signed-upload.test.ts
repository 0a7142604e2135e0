/**
 * Signed upload URLs (POST /v1/files/signed-upload-url, then /v1/upload/signed?upload&exp&sig):
 * the holder sends one file with no other credential, whole or in parts; the URL is bound to
 * the upload's user, name, folder, size and expiry; expired, tampered, used after completion or
 * used to read → 403; parts beyond the declared size refused; quota reserved at minting and
 * freed on abort and expiry. Runs on disk and S3 (the `s3` project), SQLite and PostgreSQL.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { UploadRecord } from '../../src/db/types.js';
import { signUpload, verifyUpload, type SignedUploadFields } from '../../src/files/signed-upload-sign.js';
import { ManualClock } from '../../src/util/clock.js';
import { startTestServer, tempDir, testEnv, type TestServer } from '../helpers/app.js';
import { bytes, listen, MiB, request, sha256, storedBytes, usage } from './upload-kit.js';

/** The URL as inject takes it (path and query); minted URLs are absolute under PUBLIC_BASE_URL. */
const local = (url: string): string => url.replace(/^http:\/\/files\.test/, '');
const octets = { 'content-type': 'application/octet-stream' };

interface Minted {
  url: string;
  uploadId: string;
  partSize: number;
  partCount: number;
  expires_at: string;
}

describe('signed upload URLs', () => {
  let s: TestServer;
  const clock = new ManualClock();
  const quota = 40 * MiB;
  beforeAll(async () => {
    s = await startTestServer({ PER_USER_QUOTA_GB: String(quota / 1024 ** 3) }, undefined, { clock });
  });
  afterAll(async () => s.close());

  async function mint(userId: string, body: Record<string, unknown>): Promise<Minted> {
    const res = await s.asService({ method: 'POST', url: '/v1/files/signed-upload-url', payload: { user_id: userId, ...body } });
    if (res.statusCode !== 201) throw new Error(`mint failed: ${res.statusCode} ${res.body}`);
    return res.json();
  }
  /** A request with the URL alone: no token, no cookie. */
  const send = (method: 'PUT' | 'POST' | 'DELETE' | 'GET' | 'HEAD', url: string, payload?: Buffer, headers: Record<string, string> = {}) =>
    s.app.inject({ method, url: local(url), headers: payload ? { ...octets, ...headers } : headers, payload });

  it('single: a PUT of the whole file with no credential creates the record under the minted user, name and folder', async () => {
    const data = bytes(3000);
    const m = await mint('su-single', { name: 'photo.jpg', size: data.length, mime: 'image/jpeg', folder: 'inbox/2026' });
    expect(m.url).toMatch(/^http:\/\/files\.test\/v1\/upload\/signed\?upload=[\w-]+&exp=\d+&sig=[0-9a-f]{64}$/);
    expect(m).toMatchObject({ partCount: 1 });
    expect(Date.parse(m.expires_at) - clock.now()).toBeGreaterThan(7100_000); // two hours by default
    const res = await send('PUT', m.url, data);
    expect(res.statusCode, res.body).toBe(201);
    const rec = res.json();
    expect(rec).toMatchObject({ filename: 'photo.jpg', folder: 'inbox/2026', user_id: 'su-single', size: 3000, mime: 'image/jpeg', sha256: sha256(data) });
    expect(rec.key).toMatch(/^storage\/su-single\/inbox\/2026\/[\w-]+_photo\.jpg$/);
    expect(await storedBytes(s, rec.key)).toEqual(data);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('chunked: parts with &partNumber=N then POST &complete=1; a whole-file PUT of a two-part upload is cut into its parts', async () => {
    const data = bytes(9 * MiB + 123);
    const m = await mint('su-chunked', { name: 'big.bin', size: data.length, sha256: sha256(data) });
    expect(m).toMatchObject({ partSize: 8 * MiB, partCount: 2 });
    // Out of order, as browsers in parallel send them.
    expect((await send('PUT', `${m.url}&partNumber=2`, data.subarray(8 * MiB))).statusCode).toBe(200);
    const p1 = await send('PUT', `${m.url}&partNumber=1`, data.subarray(0, 8 * MiB));
    expect(p1.statusCode, p1.body).toBe(200);
    expect(p1.json()).toMatchObject({ uploadId: m.uploadId, partNumber: 1, size: 8 * MiB });
    const done = await send('POST', `${m.url}&complete=1`);
    expect(done.statusCode, done.body).toBe(201);
    expect(done.json()).toMatchObject({ size: data.length, sha256: sha256(data), filename: 'big.bin' });
    // Compared by digest: vitest's toEqual walks a 9 MiB Buffer byte by byte for minutes.
    expect(sha256((await storedBytes(s, done.json().key))!)).toBe(sha256(data));

    const whole = await mint('su-chunked', { name: 'whole.bin', size: data.length });
    const put = await send('PUT', whole.url, data);
    expect(put.statusCode, put.body).toBe(201);
    expect(put.json()).toMatchObject({ size: data.length, sha256: sha256(data) });
  });

  it('quota is reserved at minting (over it: 413, no URL), freed by DELETE {url} and by expiry', async () => {
    const user = 'su-quota';
    const m = await mint(user, { name: 'a.bin', size: 30 * MiB });
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 30 * MiB, usedBytes: 0 });
    const over = await s.asService({ method: 'POST', url: '/v1/files/signed-upload-url', payload: { user_id: user, name: 'b.bin', size: 20 * MiB } });
    expect(over.statusCode).toBe(413);
    expect(over.json().code).toBe('quota_exceeded');

    const abort = await send('DELETE', m.url);
    expect(abort.statusCode, abort.body).toBe(200);
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 0 });
    expect((await send('PUT', `${m.url}&partNumber=1`, bytes(10))).statusCode).toBe(403); // spent with its upload

    await mint(user, { name: 'c.bin', size: 30 * MiB });
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 30 * MiB });
    clock.advance(25 * 3600 * 1000); // past UPLOAD_EXPIRY_HOURS (24) with nothing sent
    await s.app.ctx.uploads.sweep();
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 0 });
  });

  it('expired (by the clock) → 403 url_expired; expires_in beyond the upload expiry → 400', async () => {
    const m = await mint('su-exp', { name: 'late.bin', size: 10, expires_in: 60 });
    clock.advance(60_000);
    expect((await send('PUT', `${m.url}&partNumber=1`, bytes(10))).statusCode).toBe(200); // valid up to and including exp
    clock.advance(1000);
    const late = await send('PUT', m.url, bytes(10));
    expect(late.statusCode).toBe(403);
    expect(late.json().code).toBe('url_expired');
    expect((await send('POST', `${m.url}&complete=1`)).json().code).toBe('url_expired');
    const long = await s.asService({ method: 'POST', url: '/v1/files/signed-upload-url', payload: { user_id: 'su-exp', name: 'x', size: 1, expires_in: 25 * 3600 } });
    expect(long.statusCode).toBe(400);
    expect(long.json().code).toBe('expires_in_too_large');
  });

  it('tampered upload, exp or sig → 403 invalid_signature, and nothing is written', async () => {
    const a = await mint('su-tamper', { name: 'a.bin', size: 10 });
    const b = await mint('su-tamper', { name: 'b.bin', size: 10 });
    const q = new URL(a.url).searchParams;
    const exp = Number(q.get('exp'));
    const sig = q.get('sig')!;
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    const bad = [
      `/v1/upload/signed?upload=${b.uploadId}&exp=${exp}&sig=${sig}`, // another real upload
      `/v1/upload/signed?upload=nosuchupload123&exp=${exp}&sig=${sig}`,
      `/v1/upload/signed?upload=${a.uploadId}&exp=${exp + 1}&sig=${sig}`, // a longer life
      `/v1/upload/signed?upload=${a.uploadId}&exp=0${exp}&sig=${sig}`, // another spelling
      `/v1/upload/signed?upload=${a.uploadId}&exp=${exp}&sig=${flipped}`,
      `/v1/upload/signed?upload=${a.uploadId}&exp=${exp}&sig=${sig.toUpperCase()}`,
      `/v1/upload/signed?upload=${a.uploadId}&exp=${exp}`,
      `/v1/upload/signed?upload=${a.uploadId}&sig=${sig}`,
      `/v1/upload/signed?exp=${exp}&sig=${sig}`,
    ];
    for (const url of bad) {
      const res = await s.app.inject({ method: 'PUT', url, headers: octets, payload: bytes(10) });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code, url).toBe('invalid_signature');
    }
    const status = await s.asService({ method: 'GET', url: `/v1/files/upload/${a.uploadId}` });
    expect(status.json().parts).toEqual([]);
    expect((await send('PUT', a.url, bytes(10))).statusCode).toBe(201); // the real one still works
  });

  it('the signature binds user, name, folder, size, part size, type, SHA-256, expiry and the upload id', () => {
    const fields: SignedUploadFields = { id: 'upl_0123456789', userId: 'u1', folder: 'f', filename: 'a.txt', size: 10, partSize: 10, mime: 'text/plain', sha256: null };
    const sig = signUpload('secret', fields, 1000);
    expect(verifyUpload('secret', fields, '1000', sig, 999)).toBe('ok');
    expect(verifyUpload('secret', fields, '1000', sig, 1001)).toBe('expired');
    expect(verifyUpload('other-secret', fields, '1000', sig, 999)).toBe('invalid');
    const changes: Partial<UploadRecord>[] = [
      { id: 'upl_0123456780' },
      { userId: 'u2' },
      { folder: '' },
      { folder: 'f/a.txt' },
      { filename: 'b.txt' },
      { size: 11 },
      { partSize: 5 },
      { mime: 'text/html' },
      { sha256: 'a'.repeat(64) },
    ];
    for (const change of changes) expect(verifyUpload('secret', { ...fields, ...change }, '1000', sig, 999), JSON.stringify(change)).toBe('invalid');
    // A /get signature (key|exp under the same secret) is never an upload signature, and back.
    expect(signUpload('secret', fields, 1000)).not.toBe(signUpload('secret', { ...fields, filename: 'a.txt|1000' }, 1000));
  });

  it('after its upload completed the URL is spent: another PUT, a part, a complete → 403 upload_url_used; the file is untouched', async () => {
    const data = bytes(100);
    const m = await mint('su-once', { name: 'once.txt', size: 100 });
    const first = await send('PUT', m.url, data);
    expect(first.statusCode).toBe(201);
    for (const [method, url] of [['PUT', m.url], ['PUT', `${m.url}&partNumber=1`], ['POST', `${m.url}&complete=1`], ['DELETE', m.url]] as const) {
      const res = await send(method, url, method === 'PUT' ? bytes(100) : undefined);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().code).toBe('upload_url_used');
    }
    expect(await storedBytes(s, first.json().key)).toEqual(data);
    const listed = await s.asService({ method: 'GET', url: '/v1/files/all?user_id=su-once' });
    expect(listed.json().total_count).toBe(1);
  });

  it('GET and HEAD never read: 403 upload_url_cannot_read, before and after completion', async () => {
    const m = await mint('su-read', { name: 'r.txt', size: 5 });
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await send(method, m.url);
      expect(res.statusCode).toBe(403);
      if (method === 'GET') expect(res.json().code).toBe('upload_url_cannot_read');
    }
    expect((await send('PUT', m.url, Buffer.from('hello'))).statusCode).toBe(201);
    expect((await send('GET', m.url)).statusCode).toBe(403);
    expect((await send('GET', m.url)).body).not.toContain('hello');
  });

  it('parts beyond the declared size or count are refused; a whole file too long or too short is not completed', async () => {
    const m = await mint('su-size', { name: 's.bin', size: 9 * MiB });
    const beyond = await send('PUT', `${m.url}&partNumber=3`, bytes(10));
    expect(beyond.statusCode).toBe(400);
    expect(beyond.json().code).toBe('invalid_part_number');
    const tooBig = await send('PUT', `${m.url}&partNumber=2`, bytes(MiB + 1));
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().code).toBe('part_too_large');

    const small = await mint('su-size', { name: 'w.bin', size: 100 });
    const long = await send('PUT', small.url, bytes(101));
    expect(long.statusCode).toBe(413);
    const short = await send('PUT', small.url, bytes(99));
    expect(short.statusCode).toBe(400);
    expect(short.json().code).toBe('part_size_mismatch');
    expect((await s.asService({ method: 'GET', url: '/v1/files/all?user_id=su-size' })).json().total_count).toBe(0);
    expect(await usage(s, 'su-size')).toMatchObject({ reservedBytes: 9 * MiB + 100, usedBytes: 0 });
    expect((await send('PUT', small.url, bytes(100))).statusCode).toBe(201); // still open for a right one
  });

  it('a SHA-256 given at minting holds: other bytes (or another X-Checksum-SHA256) → 400, the URL still open', async () => {
    const data = bytes(64);
    const m = await mint('su-sha', { name: 'h.bin', size: 64, sha256: sha256(data) });
    const wrong = await send('PUT', m.url, bytes(64));
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().code).toBe('checksum_mismatch');
    const other = bytes(64);
    const swapped = await send('PUT', m.url, other, { 'x-checksum-sha256': sha256(other) });
    expect(swapped.statusCode).toBe(400);
    expect((await send('PUT', m.url, data)).statusCode).toBe(201);
  });

  it('minting needs operator (or admin, or a service): none → 401, a viewer → 403; a user mints for themselves only', async () => {
    const body = { name: 'x.bin', size: 1 };
    expect((await s.app.inject({ method: 'POST', url: '/v1/files/signed-upload-url', payload: body })).statusCode).toBe(401);
    const viewer = await s.tokenFor('su-viewer', { role: 'viewer' });
    expect((await s.asBearer(viewer, { method: 'POST', url: '/v1/files/signed-upload-url', payload: body })).statusCode).toBe(403);
    const operator = await s.tokenFor('su-op');
    const own = await s.asBearer(operator, { method: 'POST', url: '/v1/files/signed-upload-url', payload: body });
    expect(own.statusCode).toBe(201);
    expect((await send('PUT', own.json().url, Buffer.from('z'))).json().user_id).toBe('su-op');
    const other = await s.asBearer(operator, { method: 'POST', url: '/v1/files/signed-upload-url', payload: { ...body, user_id: 'someone-else' } });
    expect(other.statusCode).toBe(403);
  });
});

describe('signed upload URLs on a real socket', () => {
  let s: TestServer;
  let port: number;
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
  });
  afterAll(async () => s.close());

  const mint = async (user: string, size: number): Promise<string> =>
    local((await s.asService({ method: 'POST', url: '/v1/files/signed-upload-url', payload: { user_id: user, name: 'sock.bin', size } })).json().url);

  /** PUT with Expect: 100-continue: whether the server said 100 before answering, and the status. */
  function expectContinue(path: string, size: number): Promise<{ continued: boolean; status: number }> {
    return new Promise((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path, agent: false, headers: { expect: '100-continue', 'content-length': size, ...octets } });
      req.on('continue', () => {
        continued = true;
        req.end(bytes(size));
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ continued, status: res.statusCode! }));
        if (!continued) req.destroy();
      });
      req.on('error', (err) => (continued ? reject(err) : undefined));
    });
  }

  it('a bad signature is refused before 100 Continue: the body is never asked for', async () => {
    const url = await mint('su-continue', 1000);
    const tampered = url.replace(/sig=[0-9a-f]/, (m) => (m.endsWith('0') ? 'sig=1' : 'sig=0'));
    expect(await expectContinue(tampered, 1000)).toEqual({ continued: false, status: 403 });
    expect(await expectContinue(url, 1000)).toEqual({ continued: true, status: 201 });
  });

  it('a chunked whole-file body longer than the minted size → 413, nothing completed; the right one then works', async () => {
    const url = await mint('su-chunked-body', 3 * 1024);
    const long = await request(port, { method: 'PUT', path: url, headers: octets, body: Readable.from([bytes(2048), bytes(2048)]) });
    expect(long.status).toBe(413);
    expect(JSON.parse(long.body).code).toBe('payload_too_large');
    expect((await s.asService({ method: 'GET', url: '/v1/files/all?user_id=su-chunked-body' })).json().total_count).toBe(0);
    const data = bytes(3 * 1024);
    const ok = await request(port, { method: 'PUT', path: url, headers: octets, body: Readable.from([data.subarray(0, 1000), data.subarray(1000)]) });
    expect(ok.status, ok.body).toBe(201);
    expect(JSON.parse(ok.body).sha256).toBe(sha256(data));
  });
});

describe('signed upload URLs in the request log', () => {
  it('the signature is never logged', async () => {
    const root = await tempDir();
    const lines: string[] = [];
    const app = await buildApp(loadConfig(testEnv(root, { LOG_LEVEL: 'info' })), { logStream: { write: (l: string) => void lines.push(l) } });
    try {
      const env = app.ctx.config;
      const res = await app.inject({
        method: 'POST',
        url: '/v1/files/signed-upload-url',
        headers: { 'x-service-token': env.auth.serviceToken! },
        payload: { user_id: 'su-log', name: 'l.txt', size: 2 },
      });
      const url = local(res.json().url as string);
      const sig = new URL(url, 'http://x').searchParams.get('sig')!;
      await app.inject({ method: 'GET', url }); // refused
      await app.inject({ method: 'PUT', url: url.replace(/upload=[^&]+/, 'upload=zzzzzzzzzz'), headers: octets, payload: Buffer.from('no') });
      expect((await app.inject({ method: 'PUT', url, headers: octets, payload: Buffer.from('ok') })).statusCode).toBe(201);
      const log = lines.join('');
      expect(log).toContain('/v1/upload/signed?upload=');
      expect(log).not.toContain(sig);
      expect(log).not.toContain(res.json().url);
    } finally {
      await app.close();
      await (await import('node:fs/promises')).rm(root, { recursive: true, force: true });
    }
  });
});
