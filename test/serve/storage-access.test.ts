/** `/storage` when not public, and the X-Accel-Redirect hand-off to nginx. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storageUrl, storeFile } from './serve-helpers.js';

describe('PUBLIC_STORAGE=false', () => {
  let s: TestServer;
  let file: FileRecord;
  beforeAll(async () => {
    s = await startTestServer({ PUBLIC_STORAGE: 'false' });
    file = await storeFile(s, 'alice', 'notes.txt', 'private notes', { mime: 'text/plain' });
  });
  afterAll(async () => s.close());
  const url = () => storageUrl(file.key);

  it('no credentials → 401 with WWW-Authenticate', async () => {
    const res = await s.app.inject({ method: 'GET', url: url() });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer'); // RFC 6750 §3.1: no credentials, no error code (F-17)
    expect(res.body).not.toContain('private notes');
  });

  it('a bad token → 401', async () => {
    const res = await s.asBearer('not.a.token', { method: 'GET', url: url() });
    expect(res.statusCode).toBe(401);
  });

  it('the owner → 200, Cache-Control private', async () => {
    const res = await s.asBearer(await s.tokenFor('alice'), { method: 'GET', url: url() });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('private notes');
    expect(res.headers['cache-control']).toMatch(/^private/);
  });

  it('the owner by cookie → 200', async () => {
    const token = await s.tokenFor('alice');
    const res = await s.app.inject({ method: 'GET', url: url(), headers: { cookie: `auth_token=${token}` } });
    expect(res.statusCode).toBe(200);
  });

  it('another user → 404, as if missing', async () => {
    const res = await s.asBearer(await s.tokenFor('bob'), { method: 'GET', url: url() });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('private notes');
  });

  it('an admin and a service → 200', async () => {
    expect((await s.asBearer(await s.adminToken(), { method: 'GET', url: url() })).statusCode).toBe(200);
    expect((await s.asService({ method: 'GET', url: url() })).statusCode).toBe(200);
  });

  it('a token without files:read → 403', async () => {
    const token = await s.tokenFor('alice', { scope: 'files:write' });
    expect((await s.asBearer(token, { method: 'GET', url: url() })).statusCode).toBe(403);
  });

  it('HEAD follows the same rules', async () => {
    expect((await s.app.inject({ method: 'HEAD', url: url() })).statusCode).toBe(401);
    expect((await s.asBearer(await s.tokenFor('alice'), { method: 'HEAD', url: url() })).statusCode).toBe(200);
  });
});

describe('ACCEL_REDIRECT_PREFIX', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ ACCEL_REDIRECT_PREFIX: '/_protected/' });
  });
  afterAll(async () => s.close());

  it('answers with X-Accel-Redirect (each segment percent-encoded) and the headers nginx must pass on', async () => {
    const f = await storeFile(s, 'u1', 'a b?#%文.pdf', 'pdf bytes', { folder: 'docs', mime: 'application/pdf' });
    const res = await s.app.inject({ method: 'GET', url: storageUrl(f.key) });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers['x-accel-redirect']).toBe(`/_protected/storage/u1/docs/${f.id}_a%20b%3F%23%25%E6%96%87.pdf`);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toMatch(/^inline; filename=".*"; filename\*=UTF-8''/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers.etag).toBe(`"${f.sha256}"`);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
  });

  it('keeps CSP sandbox and attachment for active content, and still answers 304 itself', async () => {
    const f = await storeFile(s, 'u1', 'x.svg', '<svg/>', { mime: 'image/svg+xml' });
    const res = await s.app.inject({ method: 'GET', url: storageUrl(f.key) });
    expect(res.headers['x-accel-redirect']).toBe(`/_protected/storage/u1/${f.id}_x.svg`);
    expect(res.headers['content-security-policy']).toMatch(/^sandbox; default-src 'none';/);
    expect(res.headers['content-disposition']).toMatch(/^attachment;/);
    const cached = await s.app.inject({ method: 'GET', url: storageUrl(f.key), headers: { 'if-none-match': `"${f.sha256}"` } });
    expect(cached.statusCode).toBe(304);
    expect(cached.headers['x-accel-redirect']).toBeUndefined();
  });

  it('a missing file is still a 404 from the app', async () => {
    const res = await s.app.inject({ method: 'GET', url: `/storage/u1/${'0'.repeat(32)}_nope.pdf` });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-accel-redirect']).toBeUndefined();
  });
});
