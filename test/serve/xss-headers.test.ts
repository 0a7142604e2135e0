/**
 * F-01 over HTTP: MIME types are normalised where they are accepted (init JSON, the
 * one-request multipart upload) and again when served (records from before the fix), only
 * passive types are inline, and every kind of file response carries CSP sandbox + nosniff.
 * The browser's view of the same is in xss-browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storageUrl, storeFile } from './serve-helpers.js';

const CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'";
const OCTET = 'application/octet-stream';
const HTML = '<html><body><script>fetch("/beacon")</script></body></html>';

// [as uploaded, as stored and served]
const VARIANTS: [string, string][] = [
  ['text/plain; x=1, text/html', OCTET],
  ['text/plain;,text/html', OCTET],
  ['text/plain, text/html', OCTET],
  ['multipart/x-mixed-replace;boundary=x', OCTET],
  ['text/xsl', 'text/xsl'],
  ['text/rdf', 'text/rdf'],
  ['TEXT/HTML', 'text/html'],
  ['text/html;', 'text/html'],
  ['text/html; charset=UTF-8', 'text/html; charset=utf-8'],
  ['image/svg+xml', 'image/svg+xml'],
  ['application/xhtml+xml', 'application/xhtml+xml'],
  ['text/xml', 'text/xml'],
  ['application/xml', 'application/xml'],
  ['application/javascript', 'application/javascript'],
  ['text/javascript', 'text/javascript'],
];

function expectSafe(res: LightMyRequestResponse, what: string): void {
  expect(res.headers['content-security-policy'], what).toBe(CSP);
  expect(res.headers['x-content-type-options'], what).toBe('nosniff');
}

function expectAttachment(res: LightMyRequestResponse, mime: string, what: string): void {
  expect(res.statusCode, what).toBe(200);
  expect(res.headers['content-type'], what).toBe(mime);
  expect(res.headers['content-disposition'], what).toMatch(/^attachment;/);
  expectSafe(res, what);
}

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => s.close());

const signed = async (key: string, disposition = 'inline'): Promise<string> => {
  const res = await s.asService({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(key)}&disposition=${disposition}` });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json().url as string).replace('http://files.test', '');
};

describe('F-01 MIME types are normalised at upload (init JSON)', () => {
  it.each(VARIANTS)('%j is stored as %j and served as an attachment with CSP sandbox', async (sent, stored) => {
    const body = Buffer.from(HTML);
    const init = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { user_id: 'mallory', mode: 'single', files: [{ name: 'x.txt', size: body.length, mime: sent }] } });
    expect(init.statusCode, init.body).toBe(201);
    expect(init.json().uploads[0].mime).toBe(stored);
    const uploadId = init.json().uploadId as string;
    const part = await s.asService({ method: 'PUT', url: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, headers: { 'content-type': 'application/octet-stream' }, payload: body });
    expect(part.statusCode, part.body).toBe(200);
    const done = await s.asService({ method: 'POST', url: '/v1/files/complete', payload: { uploadId } });
    expect(done.statusCode, done.body).toBe(201);
    expect(done.json().mime).toBe(stored);
    const key = done.json().key as string;

    expectAttachment(await s.app.inject({ method: 'GET', url: `${storageUrl(key)}?disposition=inline` }), stored, `${sent} /storage`);
    expectAttachment(await s.app.inject({ method: 'GET', url: await signed(key) }), stored, `${sent} /get`);
  });

  it('a control character is still a 400 naming the field (not a header value at all)', async () => {
    const res = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { user_id: 'mallory', mode: 'single', files: [{ name: 'x', size: 1, mime: 'text/html\r\nX-Evil: 1' }] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain('body.files.0.mime');
  });
});

describe('F-01 MIME types are normalised at upload (one-request multipart)', () => {
  const multipart = (partType: string) => {
    const boundary = 'xssboundary';
    const payload = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: ${partType}\r\n\r\n${HTML}\r\n--${boundary}--\r\n`,
    );
    return s.asService({ method: 'POST', url: '/v1/files?user_id=mallory', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
  };

  it.each([
    ['text/plain; x=1, text/html', /^(application\/octet-stream|text\/plain)$/],
    ['TEXT/HTML', /^text\/html$/],
    ['text/xsl', /^text\/xsl$/],
    ['multipart/x-mixed-replace;boundary=x', /^application\/octet-stream$/],
  ])('a part typed %j is stored in canonical form and never inline as a document', async (partType, stored) => {
    const res = await multipart(partType);
    expect(res.statusCode, res.body).toBe(201);
    const file = res.json().files[0] as { key: string; mime: string };
    expect(file.mime).toMatch(stored);
    const dl = await s.app.inject({ method: 'GET', url: `${storageUrl(file.key)}?disposition=inline` });
    expect(dl.headers['content-type']).toBe(file.mime);
    expectSafe(dl, partType);
    if (file.mime !== 'text/plain') expect(dl.headers['content-disposition']).toMatch(/^attachment;/);
  });
});

describe('F-01 records stored before the fix are normalised when served', () => {
  it.each(VARIANTS)('a record holding %j is served as %j, attachment, CSP sandbox', async (raw, served) => {
    // Written straight to the store, as the old code's schema let it through.
    const f = await storeFile(s, 'legacy', 'x.txt', HTML, { mime: raw });
    expect(f.mime).toBe(raw);
    for (const url of [`${storageUrl(f.key)}?disposition=inline`, await signed(f.key)]) {
      const res = await s.app.inject({ method: 'GET', url });
      expectAttachment(res, served, `${raw} ${url.slice(0, 5)}`);
      // The raw string is never sent, not even inside a multipart/byteranges answer.
      const multi = await s.app.inject({ method: 'GET', url, headers: { range: 'bytes=0-1,10-11' } });
      expect(multi.statusCode).toBe(206);
      expect(multi.body).toContain(`Content-Type: ${served}\r\n`);
      if (raw !== served) expect(multi.body).not.toContain(raw);
    }
  });
});

describe('F-01 CSP sandbox and nosniff on every file response', () => {
  let png: FileRecord;
  const pngBytes = Buffer.alloc(1000, 7);
  beforeAll(async () => {
    png = await storeFile(s, 'alice', 'photo.png', pngBytes, { mime: 'image/png' });
  });

  it('passive types stay inline (an image opened directly still shows), with the CSP', async () => {
    const res = await s.app.inject({ method: 'GET', url: storageUrl(png.key) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-disposition']).toBe('inline; filename="photo.png"');
    expectSafe(res, 'png');
  });

  it.each([
    ['GET', {}, 200],
    ['HEAD', {}, 200],
    ['GET', { range: 'bytes=0-9' }, 206],
    ['GET', { range: 'bytes=0-9,100-109' }, 206],
    ['HEAD', { range: 'bytes=0-9,100-109' }, 206],
  ] as const)('/storage and /get: %s %j → %i', async (method, headers, statusCode) => {
    for (const url of [storageUrl(png.key), await signed(png.key)]) {
      const res = await s.app.inject({ method, url, headers });
      expect(res.statusCode, url).toBe(statusCode);
      expectSafe(res, `${method} ${url}`);
    }
  });

  it('/storage and /get: 304 carries it too', async () => {
    for (const url of [storageUrl(png.key), await signed(png.key)]) {
      const res = await s.app.inject({ method: 'GET', url, headers: { 'if-none-match': `"${png.sha256}"` } });
      expect(res.statusCode).toBe(304);
      expectSafe(res, `304 ${url}`);
    }
  });

  it('the batch ZIP carries it', async () => {
    const made = await s.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: [png.key] } });
    expect(made.statusCode, made.body).toBe(201);
    const zip = await s.app.inject({ method: 'GET', url: `/v1/files/batch-download/${made.json().token}` });
    expect(zip.statusCode).toBe(200);
    expect(zip.headers['content-disposition']).toMatch(/^attachment;/);
    expectSafe(zip, 'zip');
  });

  it('the X-Accel-Redirect answer carries it (nginx passes it on, see xss-browser.test.ts)', async () => {
    const accel = await startTestServer({ ACCEL_REDIRECT_PREFIX: '/_protected/' });
    try {
      const f = await storeFile(accel, 'alice', 'page.html', HTML, { mime: 'text/plain, text/html' });
      const res = await accel.app.inject({ method: 'GET', url: `${storageUrl(f.key)}?disposition=inline` });
      expect(res.headers['x-accel-redirect']).toBe(`/_protected/${f.key.split('/').map(encodeURIComponent).join('/')}`);
      expectAttachment(res, OCTET, 'x-accel');
    } finally {
      await accel.close();
    }
  });
});
