/**
 * The streamer over HTTP (inject): every header rule and range form on `/storage/...`.
 * The fine detail of parsing lives in range/decide/multipart/disposition tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { patterned, putBytes, storageUrl, storeFile } from './serve-helpers.js';

let s: TestServer;
let file: FileRecord;
const body = patterned(1000, 7);

beforeAll(async () => {
  s = await startTestServer();
  file = await storeFile(s, 'u1', 'report 1.bin', body, { folder: 'docs', mime: 'application/pdf' });
});
afterAll(async () => s.close());

const get = (headers: Record<string, string> = {}, url = storageUrl(file.key), method: 'GET' | 'HEAD' = 'GET') =>
  s.app.inject({ method, url, headers });

/** Splits a multipart/byteranges body into its parts. */
function parseMultipart(contentType: string, raw: Buffer): { range: string; type: string; data: Buffer }[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)![1]!;
  const text = raw.toString('latin1');
  expect(text.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
  const parts = text.slice(0, -`\r\n--${boundary}--\r\n`.length).split(new RegExp(`(?:^|\\r\\n)--${boundary}\\r\\n`)).slice(1);
  return parts.map((p) => {
    const [head, ...rest] = p.split('\r\n\r\n');
    const headers = Object.fromEntries(head!.split('\r\n').map((l) => [l.split(':')[0]!.toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { range: headers['content-range']!, type: headers['content-type']!, data: Buffer.from(rest.join('\r\n\r\n'), 'latin1') };
  });
}

describe('whole file', () => {
  it('GET: 200 with validators, type, length, disposition, nosniff and cache headers', async () => {
    const res = await get();
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(body)).toBe(true);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers.etag).toBe(`"${file.sha256}"`);
    expect(res.headers['last-modified']).toBe(new Date(file.createdAt).toUTCString());
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-disposition']).toBe('inline; filename="report 1.bin"');
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    expect(res.headers['content-security-policy']).toBe("sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'");
  });

  it('HEAD: the same headers and no body', async () => {
    const res = await get({}, undefined, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers.etag).toBe(`"${file.sha256}"`);
    expect(res.headers['accept-ranges']).toBe('bytes');
  });

  it('?disposition=attachment', async () => {
    const res = await get({}, `${storageUrl(file.key)}?disposition=attachment`);
    expect(res.headers['content-disposition']).toBe('attachment; filename="report 1.bin"');
  });

  it('a bad ?disposition= is a 400', async () => {
    const res = await get({}, `${storageUrl(file.key)}?disposition=evil`);
    expect(res.statusCode).toBe(400);
  });

  it('an empty file is a 200 with Content-Length 0, ranges ignored', async () => {
    const empty = await storeFile(s, 'u1', 'empty.txt', Buffer.alloc(0), { mime: 'text/plain' });
    const res = await get({ range: 'bytes=0-0' }, storageUrl(empty.key));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('0');
  });
});

describe('single ranges', () => {
  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=0-0', 0, 0],
    ['bytes=500-5000', 500, 999],
    ['bytes=-5000', 0, 999],
    ['BYTES=1-2', 1, 2],
  ])('%s → 206 %i-%i', async (range, start, end) => {
    const res = await get({ range });
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/1000`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.rawPayload.equals(body.subarray(start, end + 1))).toBe(true);
  });

  it('HEAD with a range: 206 headers, no body', async () => {
    const res = await get({ range: 'bytes=10-19' }, undefined, 'HEAD');
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 10-19/1000');
    expect(res.headers['content-length']).toBe('10');
    expect(res.rawPayload.length).toBe(0);
  });

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=1000-1000,2000-'])('%s → 416 with bytes */size', async (range) => {
    const res = await get({ range });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */1000');
    expect(res.json().code).toBe('range_not_satisfiable');
  });

  it.each(['bytes=10', 'bytes=1e2-2e2', 'items=0-1', 'bytes=5-2', 'bytes=', 'bytes=0-1,,2-3', 'bytes= 0-1', 'bytes=0x10-0x20', 'bytes=-'])(
    'malformed %j is ignored: the whole body, never a guessed 206',
    async (range) => {
      const res = await get({ range });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(body)).toBe(true);
    },
  );
});

describe('several ranges', () => {
  it('multipart/byteranges with each part and an exact Content-Length', async () => {
    const res = await get({ range: 'bytes=0-1,100-109,-3' });
    expect(res.statusCode).toBe(206);
    const type = res.headers['content-type'] as string;
    expect(type).toMatch(/^multipart\/byteranges; boundary=[0-9a-f]+$/);
    expect(res.headers['content-length']).toBe(String(res.rawPayload.length));
    const parts = parseMultipart(type, res.rawPayload);
    expect(parts.map((p) => p.range)).toEqual(['bytes 0-1/1000', 'bytes 100-109/1000', 'bytes 997-999/1000']);
    expect(parts.every((p) => p.type === 'application/pdf')).toBe(true);
    expect(parts[1]!.data.equals(body.subarray(100, 110))).toBe(true);
    expect(parts[2]!.data.equals(body.subarray(997))).toBe(true);
  });

  it('overlapping and adjacent ranges are merged (here into one plain 206)', async () => {
    const res = await get({ range: 'bytes=0-4,5-9,3-6' });
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 0-9/1000');
    expect(res.rawPayload.equals(body.subarray(0, 10))).toBe(true);
  });

  it('1000 copies of one byte merge into that one byte, not 1000', async () => {
    const res = await get({ range: `bytes=${Array.from({ length: 1000 }, () => '0-0').join(',')}` });
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 0-0/1000');
    expect(res.rawPayload.length).toBe(1);
  });

  it('HEAD with several ranges: the multipart length, no body', async () => {
    const res = await get({ range: 'bytes=0-1,10-11' }, undefined, 'HEAD');
    expect(res.statusCode).toBe(206);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(4);
    expect(res.rawPayload.length).toBe(0);
  });

  it('16 disjoint ranges are served as 16 parts', async () => {
    const spec = Array.from({ length: 16 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
    const res = await get({ range: `bytes=${spec}` });
    expect(res.statusCode).toBe(206);
    expect(parseMultipart(res.headers['content-type'] as string, res.rawPayload)).toHaveLength(16);
  });

  it.each([
    ['17 disjoint ranges', Array.from({ length: 17 }, (_, i) => `${i * 10}-${i * 10}`).join(',')],
    ['the whole file three times', '0-,0-,0-'],
    ['1001 copies of one byte (more bytes than the file)', Array.from({ length: 1001 }, () => '0-0').join(',')],
    ['overlapping halves summing to more than the file', '0-700,300-999'],
  ])('amplification (%s) → the body once, never more bytes than the file', async (_name, spec) => {
    const res = await get({ range: `bytes=${spec}` });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(1000);
    expect(res.rawPayload.equals(body)).toBe(true);
  });
});

describe('conditional requests', () => {
  const lastModified = () => new Date(file.createdAt).toUTCString();

  it('If-None-Match with the ETag → 304, validators kept, no body', async () => {
    const res = await get({ 'if-none-match': `"${file.sha256}"` });
    expect(res.statusCode).toBe(304);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers.etag).toBe(`"${file.sha256}"`);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    expect(res.headers['content-length']).toBeUndefined();
  });

  it('If-None-Match with a weak form or in a list → 304; another tag → 200', async () => {
    expect((await get({ 'if-none-match': `W/"${file.sha256}"` })).statusCode).toBe(304);
    expect((await get({ 'if-none-match': `"x", "${file.sha256}"` })).statusCode).toBe(304);
    expect((await get({ 'if-none-match': '"other"' })).statusCode).toBe(200);
  });

  it('If-Modified-Since at or after Last-Modified → 304; before → 200', async () => {
    expect((await get({ 'if-modified-since': lastModified() })).statusCode).toBe(304);
    const before = new Date(Date.parse(file.createdAt) - 2000).toUTCString();
    expect((await get({ 'if-modified-since': before })).statusCode).toBe(200);
  });

  it('If-Range with the current ETag or date → 206; a stale one → the full 200', async () => {
    expect((await get({ range: 'bytes=0-9', 'if-range': `"${file.sha256}"` })).statusCode).toBe(206);
    expect((await get({ range: 'bytes=0-9', 'if-range': lastModified() })).statusCode).toBe(206);
    const stale = await get({ range: 'bytes=0-9', 'if-range': '"stale"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.equals(body)).toBe(true);
    expect((await get({ range: 'bytes=0-9', 'if-range': `W/"${file.sha256}"` })).statusCode).toBe(200);
  });

  it('If-Match that fails → 412 JSON', async () => {
    const res = await get({ 'if-match': '"other"' });
    expect(res.statusCode).toBe(412);
    expect(res.json().code).toBe('precondition_failed');
  });
});

describe('Content-Disposition and active content', () => {
  it('Unicode names get filename* and an ASCII fallback', async () => {
    const f = await storeFile(s, 'u1', '報告 📄 "final".pdf', 'x', { mime: 'application/pdf' });
    const res = await get({}, storageUrl(f.key));
    expect(res.statusCode).toBe(200);
    const cd = res.headers['content-disposition'] as string;
    expect(cd).toMatch(/^inline; filename="[\x20-\x7e]*"; filename\*=UTF-8''/);
    expect(cd).toContain(encodeURIComponent('報告'));
    expect(cd.match(/"/g)).toHaveLength(2); // only the fallback's own quotes
  });

  it('a record whose name holds CR/LF never injects a header', async () => {
    const written = await storeFile(s, 'u1', 'plain.txt', 'abc', { mime: 'text/plain' });
    const evil: FileRecord = { ...written, id: 'f'.repeat(32), key: `storage/u1/${'f'.repeat(32)}_evil.txt`, filename: 'evil\r\nX-Injected: 1\r\n.txt' };
    await putBytes(s, evil.key, 'abc');
    await s.app.ctx.store.files.insertFile(evil, s.app.ctx.files.quotaCheck('u1'));
    const res = await get({}, storageUrl(evil.key));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-injected']).toBeUndefined();
    expect(res.headers['content-disposition']).not.toMatch(/[\r\n]/);
  });

  it.each(['text/html', 'text/html; charset=utf-8', 'image/svg+xml', 'application/xml', 'text/xml', 'text/javascript', 'application/xhtml+xml'])(
    '%s is always an attachment with CSP sandbox',
    async (mime) => {
      const f = await storeFile(s, 'u1', 'page.html', '<script>alert(1)</script>', { mime });
      const res = await get({}, `${storageUrl(f.key)}?disposition=inline`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-disposition']).toMatch(/^attachment;/);
      expect(res.headers['content-security-policy']).toMatch(/^sandbox; default-src 'none';/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-type']).toBe(mime);
    },
  );
});

describe('missing', () => {
  it('an unknown key → 404 JSON', async () => {
    const res = await get({}, `/storage/u1/docs/${'0'.repeat(32)}_nope.bin`);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('file_not_found');
  });

  it('a record whose bytes are gone → 404 without the file headers', async () => {
    const f = await storeFile(s, 'u1', 'gone.bin', 'bytes');
    await s.app.ctx.blobs.delete(f.key);
    for (const method of ['GET', 'HEAD'] as const) {
      for (const range of [undefined, 'bytes=0-0', 'bytes=0-0,2-2']) {
        const res = await get(range ? { range } : {}, storageUrl(f.key), method);
        expect(res.statusCode).toBe(404);
        expect(res.headers['content-disposition']).toBeUndefined();
        expect(res.headers['content-range']).toBeUndefined();
      }
    }
  });

  it('a small file whose bytes are shorter than its record → 500 JSON, never a short body', async () => {
    const f = await storeFile(s, 'u1', 'cut.bin', 'twelve bytes');
    await putBytes(s, f.key, 'twelv');
    const res = await get({}, storageUrl(f.key));
    expect(res.statusCode).toBe(500);
    expect(res.json().code).toBeDefined();
    expect(res.headers['content-disposition']).toBeUndefined();
  });

  it('a deleted file → 404', async () => {
    const f = await storeFile(s, 'u1', 'deleted.bin', 'bytes');
    await s.app.ctx.store.files.deleteFile(f.key);
    expect((await get({}, storageUrl(f.key))).statusCode).toBe(404);
  });
});
