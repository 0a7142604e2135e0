/**
 * The SDK in Chromium: the browser entry bundled with esbuild (as a web app would ship it) and
 * served with a test page on the server's origin (a proxy in front of the real server), then
 * a resumable upload of a 10 MiB File in 5 MiB parts with WebCrypto SHA-256 per part and
 * progress, aborted after one part and resumed by a second call that sends only the rest (one
 * part answered 503 once and sent again), each part's body the File's slice itself (a Blob,
 * not bytes copied into the page), downloaded back and compared byte for byte in the page;
 * then read with a cookie session.
 */
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../serve/browser-kit.js';
import { patternBytes, startHttpProxy, startSdkServer, type HttpProxy, type SdkServer } from './sdk-kit.js';

let srv: SdkServer;
let proxy: HttpProxy;
let browser: Browser;

beforeAll(async () => {
  // The page's origin is the proxy's: the server trusts it for cookie-authenticated writes.
  proxy = await startHttpProxy(0);
  srv = await startSdkServer({ CORS_ORIGINS: proxy.url, ACCESS_TOKEN_TTL: '2' });
  proxy.target = srv.port;
  const bundle = await build({ entryPoints: ['src/client/index.ts'], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false });
  proxy.pages.set('/sdk.js', ['text/javascript', bundle.outputFiles[0]!.text]);
  proxy.pages.set('/', ['text/html', `<!doctype html><title>sdk</title><script type="module">import * as sdk from '/sdk.js'; window.sdk = sdk;</script>`]);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await srv?.close();
});

/** Runs in the page: the same xorshift bytes as patternBytes, an aborted upload, its resume, the download. */
async function inPage(args: { token: string; size: number; seed: number }) {
  const { StreamLineClient } = (globalThis as unknown as { sdk: typeof import('../../src/client/index.js') }).sdk;
  const data = new Uint8Array(args.size);
  let x = args.seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    data[i] = x & 0xff;
  }
  const file = new File([data], 'browser.bin', { type: 'application/octet-stream' });
  // What fetch is given as each PUT's body.
  const bodies: string[] = [];
  const watched: typeof fetch = (input, init) => {
    if (init?.method === 'PUT') bodies.push(init.body instanceof Blob ? 'Blob' : Object.prototype.toString.call(init.body));
    return fetch(input, init);
  };
  const sl = new StreamLineClient({ baseUrl: (globalThis as unknown as { location: { origin: string } }).location.origin, accessToken: args.token, fetch: watched, retry: { minDelayMs: 20 } });
  const ctl = new AbortController();
  let uploadId = '';
  const aborted = await sl.uploads
    .upload(file, { partSize: 5 * 1024 * 1024, concurrency: 1, signal: ctl.signal, onStart: (s) => (uploadId = s.uploadId), onProgress: () => ctl.abort() })
    .then(() => 'finished', (e: Error) => e.name);
  const progress: number[] = [];
  const record = await sl.uploads.upload(file, { resume: uploadId, concurrency: 2, onProgress: (p) => progress.push(p.bytesUploaded) });
  const back = new Uint8Array(await (await sl.files.download(record.key)).arrayBuffer());
  const same = back.length === data.length && back.every((b, i) => b === data[i]);
  // A cookie session: no token in the client, the page's auth_token cookie goes along.
  (globalThis as unknown as { document: { cookie: string } }).document.cookie = `auth_token=${args.token}; path=/`;
  const viaCookie = await new StreamLineClient({ baseUrl: (globalThis as unknown as { location: { origin: string } }).location.origin }).files.metadata(record.key);
  return { aborted, uploadId, progress, record, same, viaCookie, bodies };
}

describe('SDK in Chromium', () => {
  it('uploads a File in parts, resumes after an abort sending only the missing parts, and reads it back the same', async () => {
    const size = 10 * 1024 * 1024 + 7;
    const token = await srv.s.tokenFor('browser-user');
    const page = await browser.newPage();
    try {
      await page.goto(proxy.url + '/');
      await page.waitForFunction(() => 'sdk' in globalThis);
      const from = proxy.seen.length;
      let failed = 0;
      proxy.intercept = (r) => (r.method === 'PUT' && r.url.includes('partNumber=3') && failed++ === 0 ? { status: 503, body: '{"error":"unavailable","message":"try again"}' } : undefined);
      const out = await page.evaluate(inPage, { token, size, seed: 5 });
      proxy.intercept = undefined;
      expect(out.aborted).toBe('AbortError');
      const puts = proxy.seen.slice(from).filter((r) => r.method === 'PUT');
      // Part 1 before the abort, then parts 2 and 3 only (3 twice: the 503, then the retry):
      // each carried a SHA-256 from WebCrypto, each body was the File's slice.
      const numbers = puts.map((r) => new URL(r.url, 'http://x').searchParams.get('partNumber'));
      expect([numbers[0], ...numbers.slice(1).sort()]).toEqual(['1', '2', '3', '3']);
      expect(out.bodies).toEqual(['Blob', 'Blob', 'Blob', 'Blob']);
      expect(puts.every((r) => /^[0-9a-f]{64}$/.test(String(r.headers['x-checksum-sha256'])))).toBe(true);
      expect(out.progress.at(-1)).toBe(size);
      expect(out.same).toBe(true);
      expect(out.viaCookie).toEqual(out.record);
      expect(out.record).toMatchObject({ filename: 'browser.bin', size, sha256: createHash('sha256').update(patternBytes(size, 5)).digest('hex') });
    } finally {
      await page.close();
    }
  });
});

/** Runs in the page: a cookie session (no token in reach of the script) that outlives its 2 s access cookie. */
async function cookieSession(args: { password: string }) {
  const { StreamLineClient } = (globalThis as unknown as { sdk: typeof import('../../src/client/index.js') }).sdk;
  const origin = (globalThis as unknown as { location: { origin: string } }).location.origin;
  const sl = new StreamLineClient({ baseUrl: origin, session: 'cookie' });
  const login = await sl.auth.loginCookie('admin', args.password);
  const stored = await sl.uploads.uploadSmall([{ data: new Blob(['cookie bytes']), name: 'cookie.txt' }]);
  await new Promise((resolve) => setTimeout(resolve, 2_300)); // the access cookie lapses (Max-Age 2)
  const me = await sl.auth.me();
  // A page loaded later: a new client, no login, the cookies the browser kept.
  const later = await new StreamLineClient({ baseUrl: origin, session: 'cookie' }).files.metadata(stored[0]!.key);
  await sl.auth.logout();
  const after = await new StreamLineClient({ baseUrl: origin, session: 'cookie', retry: { retries: 0 } }).auth.me().then(
    () => 'still in',
    (e: { status: number }) => e.status,
  );
  return { login, me: me.username, later: later.filename, after, cookieVisible: (globalThis as unknown as { document: { cookie: string } }).document.cookie };
}

describe('SDK cookie session in Chromium', () => {
  it('logs in with HttpOnly cookies, writes, refreshes through the refresh cookie after the access cookie lapsed, logs out', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(proxy.url + '/');
      await page.waitForFunction(() => 'sdk' in globalThis);
      const from = proxy.seen.length;
      const out = await page.evaluate(cookieSession, { password: srv.s.adminPassword });
      expect(out.login).toMatchObject({ session: 'cookie', token_type: 'cookie', expires_in: 2 });
      expect(JSON.stringify(out.login)).not.toMatch(/eyJ/); // no JWT in the reply
      expect(out.cookieVisible).not.toMatch(/auth_/); // HttpOnly: the script never sees them
      expect(out.me).toBe('admin');
      expect(out.later).toBe('cookie.txt');
      expect(out.after).toBe(401);
      expect(proxy.seen.slice(from).filter((r) => r.url === '/auth/refresh').length).toBeGreaterThanOrEqual(1);
    } finally {
      await page.close();
    }
  });
});
