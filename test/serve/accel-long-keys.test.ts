/**
 * F-11a: a key too long for the file system lives at `.long/xx/<sha256(key)>`, so the
 * X-Accel-Redirect must name that path, not the key, or nginx answers 404. Checked against
 * the store, the app's answer, and the real nginx with the deploy configuration.
 * A local-disk test: X-Accel-Redirect exists only where the bytes are plain files a web
 * server can send (capabilities.localPath), and the check reads them at that path.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { LocalDiskBlobStore } from '../../src/storage/local-disk.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { nginxRequest, renderInto, startNginx, stopNginx, type Rendered } from '../helpers/nginx.js';
import { freePort } from '../helpers/process.js';
import { storageUrl, storeFile } from './serve-helpers.js';

// 255 UTF-8 bytes, the longest valid name: `{id}_{name}` is 288 bytes, over NAME_MAX.
const LONG_NAME = '中'.repeat(85);
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('F-11a X-Accel-Redirect names where a long key really lives', () => {
  let rc: Rendered;
  let nginx: ChildProcess | undefined;
  let s: TestServer;
  const data = randomBytes(200_000);
  let long: FileRecord;
  let short: FileRecord;

  beforeAll(async () => {
    const dir = await tempDir('sl-accel-long-');
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    rc = renderInto(dir, ports, [], { uploadRoot: path.join(dir, 'uploads') });
    s = await startTestServer({ ACCEL_REDIRECT_PREFIX: '/_protected/', TRUST_PROXY: '127.0.0.1', PUBLIC_BASE_URL: `https://localhost:${ports.https}` }, rc.uploadRoot);
    await s.app.listen({ port: ports.upstream, host: '127.0.0.1' });
    nginx = await startNginx(rc);
    long = await storeFile(s, 'u1', LONG_NAME, data, { folder: 'docs', mime: 'application/octet-stream' });
    short = await storeFile(s, 'u1', 'short.bin', data, { folder: 'docs', mime: 'application/octet-stream' });
  }, 60_000);
  afterAll(async () => {
    await stopNginx(nginx);
    await s?.close();
  });

  it('the store puts a 255-byte name under .long/ and says so; a short key is its own path', async () => {
    expect(Buffer.byteLength(long.filename)).toBe(255);
    const store = new LocalDiskBlobStore(rc.uploadRoot);
    const digest = sha256(long.key);
    expect(store.accelPathOf(long.key)).toBe(`.long/${digest.slice(0, 2)}/${digest}`);
    expect((await fs.readFile(path.join(rc.uploadRoot, store.accelPathOf(long.key)))).equals(data)).toBe(true);
    expect(store.accelPathOf(short.key)).toBe(short.key);
  });

  it('the app hands nginx the .long path', async () => {
    const res = await s.app.inject({ method: 'GET', url: storageUrl(long.key) });
    expect(res.statusCode).toBe(200);
    const digest = sha256(long.key);
    expect(res.headers['x-accel-redirect']).toBe(`/_protected/.long/${digest.slice(0, 2)}/${digest}`);
  });

  it('through nginx: /storage and signed /get answer 200 with the right bytes, and Range works', async () => {
    const whole = await nginxRequest(rc, { path: storageUrl(long.key) });
    expect(whole.status, whole.body.toString().slice(0, 200)).toBe(200);
    expect(sha256(whole.body)).toBe(sha256(data));
    expect(whole.headers['content-disposition']).toContain(encodeURIComponent('中'));
    expect(whole.headers['content-security-policy']).toMatch(/^sandbox/);

    const range = await nginxRequest(rc, { path: storageUrl(long.key), headers: { range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.body.equals(data.subarray(100, 200))).toBe(true);

    const signed = await s.asService({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(long.key)}` });
    expect(signed.statusCode, signed.body).toBe(200);
    const url = new URL(signed.json().url as string);
    const viaGet = await nginxRequest(rc, { path: url.pathname + url.search });
    expect(viaGet.status).toBe(200);
    expect(viaGet.body.equals(data)).toBe(true);

    // A short key still goes the direct way.
    const plain = await nginxRequest(rc, { path: storageUrl(short.key) });
    expect(plain.status).toBe(200);
    expect(plain.body.equals(data)).toBe(true);
  });
});
