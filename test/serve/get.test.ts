/** `GET /v1/files/signed-url` and `/get/...` over HTTP, with independently computed signatures. */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storeFile } from './serve-helpers.js';

let s: TestServer;
let file: FileRecord;
let other: FileRecord;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  s = await startTestServer({ SIGNED_URL_MAX_SECONDS: '86400' });
  file = await storeFile(s, 'alice', 'report.txt', 'the report body', { folder: 'docs', mime: 'text/plain' });
  other = await storeFile(s, 'bob', 'bob.txt', 'bob only', { mime: 'text/plain' });
});
afterAll(async () => s.close());

const hmac = (key: string, exp: number | string) => createHmac('sha256', s.signingKey).update(`${key}|${exp}`).digest('hex');
const b64url = (key: string) => Buffer.from(key).toString('base64url');
const getUrl = (key: string, exp: number | string, sig: string, encoded = b64url(key)) => `/get/${encoded}?exp=${exp}&sig=${sig}`;
const fetchGet = (url: string, headers: Record<string, string> = {}) => s.app.inject({ method: 'GET', url, headers });

describe('GET /v1/files/signed-url', () => {
  const sign = (token: string | null, query: string) =>
    token === null
      ? s.asService({ method: 'GET', url: `/v1/files/signed-url?${query}` })
      : s.asBearer(token, { method: 'GET', url: `/v1/files/signed-url?${query}` });

  it('the owner gets {url, exp, expires_at}, an hour by default, and the URL works', async () => {
    const res = await sign(await s.tokenFor('alice'), `key=${encodeURIComponent(file.key)}`);
    expect(res.statusCode).toBe(200);
    const { url, exp, expires_at: expiresAt } = res.json();
    expect(Math.abs(exp - (now() + 3600))).toBeLessThanOrEqual(2);
    expect(expiresAt).toBe(new Date(exp * 1000).toISOString());
    expect(url).toBe(`http://files.test/get/${b64url(file.key)}?exp=${exp}&sig=${hmac(file.key, exp)}`);
    const dl = await fetchGet(url.replace('http://files.test', ''));
    expect(dl.statusCode).toBe(200);
    expect(dl.body).toBe('the report body');
  });

  it('expires_in is honoured up to SIGNED_URL_MAX_SECONDS, beyond → 400', async () => {
    const token = await s.tokenFor('alice');
    const ok = await sign(token, `key=${encodeURIComponent(file.key)}&expires_in=86400`);
    expect(ok.statusCode).toBe(200);
    expect(Math.abs(ok.json().exp - (now() + 86400))).toBeLessThanOrEqual(2);
    const tooLong = await sign(token, `key=${encodeURIComponent(file.key)}&expires_in=86401`);
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().code).toBe('expires_in_too_large');
    expect((await sign(token, `key=${encodeURIComponent(file.key)}&expires_in=0`)).statusCode).toBe(400);
    expect((await sign(token, `key=${encodeURIComponent(file.key)}&expires_in=abc`)).statusCode).toBe(400);
  });

  it('disposition=attachment is appended, outside the signature', async () => {
    const res = await sign(await s.tokenFor('alice'), `key=${encodeURIComponent(file.key)}&disposition=attachment`);
    const { url, exp } = res.json();
    expect(url).toMatch(new RegExp(`sig=${hmac(file.key, exp)}&disposition=attachment$`));
    const dl = await fetchGet(url.replace('http://files.test', ''));
    expect(dl.headers['content-disposition']).toMatch(/^attachment;/);
  });

  it("another user's key → 404; an admin or a service may sign it", async () => {
    const res = await sign(await s.tokenFor('alice'), `key=${encodeURIComponent(other.key)}`);
    expect(res.statusCode).toBe(404);
    expect((await sign(await s.adminToken(), `key=${encodeURIComponent(other.key)}`)).statusCode).toBe(200);
    expect((await sign(null, `key=${encodeURIComponent(other.key)}`)).statusCode).toBe(200);
  });

  it('no credentials → 401; a malformed key → 400; a missing one → 404', async () => {
    expect((await s.app.inject({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(file.key)}` })).statusCode).toBe(401);
    expect((await sign(null, 'key=storage/alice/../bob/x')).statusCode).toBe(400);
    expect((await sign(null, `key=storage/alice/${'0'.repeat(32)}_missing.txt`)).statusCode).toBe(404);
  });
});

describe('/get/{key}', () => {
  it('accepts an independently computed signature, with the signed-URL headers', async () => {
    const exp = now() + 600;
    const res = await fetchGet(getUrl(file.key, exp, hmac(file.key, exp)));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('the report body');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers.etag).toBe(`"${file.sha256}"`);
  });

  it('serves ranges, HEAD and 304 like /storage', async () => {
    const exp = now() + 600;
    const url = getUrl(file.key, exp, hmac(file.key, exp));
    const ranged = await fetchGet(url, { range: 'bytes=4-9' });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.body).toBe('report');
    const head = await s.app.inject({ method: 'HEAD', url });
    expect(head.statusCode).toBe(200);
    expect(head.rawPayload.length).toBe(0);
    const cached = await fetchGet(url, { 'if-none-match': `"${file.sha256}"` });
    expect(cached.statusCode).toBe(304);
    expect(cached.headers['referrer-policy']).toBe('no-referrer');
  });

  it('accepts standard base64, raw or with %2B / %2F / %3D', async () => {
    // After "storage/alice/{32 hex}_", this name's bytes need both "+" and "/" in standard base64.
    const f = await storeFile(s, 'alice', '\u00ff\u00fe.txt', 'base64 body', { mime: 'text/plain' });
    const exp = now() + 600;
    const std = Buffer.from(f.key).toString('base64');
    expect(std).toContain('+');
    expect(std).toContain('/');
    const encoded = std.replace(/\+/g, '%2B').replace(/\//g, '%2F').replace(/=/g, '%3D');
    for (const form of [std, encoded, std.replace(/=+$/, '')]) {
      const res = await fetchGet(getUrl(f.key, exp, hmac(f.key, exp), form));
      expect(res.statusCode, form).toBe(200);
      expect(res.body).toBe('base64 body');
    }
  });

  describe('tampering → 403', () => {
    const exp = () => now() + 600;
    it.each([
      ['changed exp', (e: number) => getUrl(file.key, e + 1, hmac(file.key, e))],
      ['another key with this signature', (e: number) => getUrl(other.key, e, hmac(file.key, e))],
      ['a changed signature character', (e: number) => {
        const sig = hmac(file.key, e);
        return getUrl(file.key, e, (sig[0] === '0' ? '1' : '0') + sig.slice(1));
      }],
      ['a truncated signature', (e: number) => getUrl(file.key, e, hmac(file.key, e).slice(0, 40))],
      ['an upper-case signature', (e: number) => getUrl(file.key, e, hmac(file.key, e).toUpperCase())],
      ['no signature', (e: number) => `/get/${b64url(file.key)}?exp=${e}`],
      ['no exp', (e: number) => `/get/${b64url(file.key)}?sig=${hmac(file.key, e)}`],
      ['a signature made with another secret', (e: number) =>
        getUrl(file.key, e, createHmac('sha256', 'guess').update(`${file.key}|${e}`).digest('hex'))],
    ])('%s', async (_name, build) => {
      const res = await fetchGet(build(exp()));
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('invalid_signature');
      expect(res.body).not.toContain('the report body');
    });

    it('expired (correctly signed, exp in the past)', async () => {
      const past = now() - 5;
      const res = await fetchGet(getUrl(file.key, past, hmac(file.key, past)));
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('url_expired');
    });
  });

  it('a deleted file → 404 even with a valid signature', async () => {
    const f = await storeFile(s, 'alice', 'short-lived.txt', 'bye', { mime: 'text/plain' });
    const exp = now() + 600;
    await s.app.ctx.files.delete({ kind: 'service', userId: null, username: null, role: 'admin', scopes: [] }, f.key);
    const res = await fetchGet(getUrl(f.key, exp, hmac(f.key, exp)));
    expect(res.statusCode).toBe(404);
  });

  it('a correctly signed traversal key is still refused (400), nothing read', async () => {
    const exp = now() + 600;
    for (const key of ['storage/alice/../bob/x_y', 'storage/../../etc/passwd', '/etc/passwd', 'storage/alice/docs/..']) {
      const res = await fetchGet(getUrl(key, exp, hmac(key, exp)));
      expect(res.statusCode, key).toBe(400);
    }
  });
});
