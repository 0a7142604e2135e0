/**
 * F-01 in a real browser: every payload of the security review is uploaded, then opened
 * directly in Chromium through `/storage/...` and through a signed `/get/...` URL, as a
 * victim clicking a link would. No script may run: no `/beacon` request reaches the server
 * and the page title never changes. A control page outside the app runs the same script, so
 * the harness demonstrably sees script when it runs; an inline PNG still renders; and one
 * run goes through the real nginx with X-Accel-Redirect.
 * That nginx run is local-disk only (nginx sends the disk store's files from UPLOAD_ROOT);
 * the rest runs on any store.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { renderInto, startNginx, stopNginx, type Rendered } from '../helpers/nginx.js';
import { freePort } from '../helpers/process.js';
import { imageWidth, launchChromium, payloads, PNG, recordBeacons, startControl, TITLE, visit, type Payload, type Visit } from './browser-kit.js';
import { storageUrl, storeFile, waitFor } from './serve-helpers.js';

const CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'";

/** init (JSON, with the payload's MIME type), one part, complete: the key (null: refused). */
async function upload(s: TestServer, p: Payload): Promise<string | null> {
  const body = Buffer.from(p.body);
  const init = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { user_id: 'mallory', mode: 'single', files: [{ name: p.name, size: body.length, mime: p.mime }] } });
  if (init.statusCode === 400) return null;
  if (init.statusCode !== 201) throw new Error(`init ${p.mime}: ${init.statusCode} ${init.body}`);
  const uploadId = init.json().uploadId as string;
  const part = await s.asService({ method: 'PUT', url: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, headers: { 'content-type': 'application/octet-stream' }, payload: body });
  if (part.statusCode !== 200) throw new Error(`part ${p.mime}: ${part.statusCode} ${part.body}`);
  const done = await s.asService({ method: 'POST', url: '/v1/files/complete', payload: { uploadId } });
  if (done.statusCode !== 201) throw new Error(`complete ${p.mime}: ${done.statusCode} ${done.body}`);
  return done.json().key as string;
}

async function signedPath(s: TestServer, key: string): Promise<string> {
  const res = await s.asService({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(key)}&disposition=inline` });
  if (res.statusCode !== 200) throw new Error(`signed-url: ${res.statusCode} ${res.body}`);
  const url = new URL(res.json().url as string);
  return url.pathname + url.search;
}

/**
 * Visits every URL, then the control page (whose beacon goes to the same server), and waits
 * until the control's beacon has arrived: any beacon a file page sent earlier has had at
 * least as long. Returns the visits and the beacons other than the control's.
 */
async function visitAll(context: BrowserContext, urls: string[], control: string, beacons: string[]): Promise<{ visits: Visit[]; leaked: string[] }> {
  const seenByBrowser: string[] = [];
  context.on('request', (req) => {
    if (new URL(req.url()).pathname === '/beacon') seenByBrowser.push(req.url());
  });
  const visits: Visit[] = [];
  for (const url of urls) visits.push(await visit(context, url));
  const controlVisit = await visit(context, control);
  // The harness sees a script that runs: the control changed its title and beaconed.
  expect(controlVisit.title).toBe('pwned-control');
  expect(await waitFor(() => beacons.some((b) => b.includes('v=control')), 20_000)).toBe(true);
  const leaked = [...beacons, ...seenByBrowser].filter((b) => !b.includes('v=control'));
  return { visits, leaked };
}

// A browser on two shared cores: generous limits, the assertions themselves wait on conditions.
describe('F-01 stored XSS: no uploaded file runs script in the browser', { timeout: 180_000 }, () => {
  let s: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let base: string;
  let beacons: string[];
  let control: Awaited<ReturnType<typeof startControl>>;

  beforeAll(async () => {
    s = await startTestServer();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as { port: number };
    base = `http://127.0.0.1:${port}`;
    beacons = recordBeacons(s.app.server);
    control = await startControl(base);
    browser = await launchChromium();
    context = await browser.newContext({ acceptDownloads: false });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await control?.close();
    await s?.close();
  });

  it('uploads through the API, opened via /storage and via signed /get: no beacon, title unchanged', async () => {
    const urls: string[] = [];
    const refused: string[] = [];
    for (const p of payloads('api')) {
      const key = await upload(s, p);
      if (key === null) refused.push(p.mime);
      else urls.push(`${base}${storageUrl(key)}?disposition=inline`, `${base}${await signedPath(s, key)}`);
    }
    const { visits, leaked } = await visitAll(context, urls, control.url, beacons);
    expect(leaked).toEqual([]);
    // Doubtful types are stored as application/octet-stream, not refused (docs/api.md).
    expect(refused).toEqual([]);
    for (const v of visits) {
      expect(v.title, v.url).not.toMatch(/^pwned/);
      // Whatever was rendered, it was rendered under the sandbox.
      if (!v.download) expect(v.csp, v.url).toBe(CSP);
    }
  });

  it('records stored before the fix (raw MIME in the database) run no script either', async () => {
    const urls: string[] = [];
    for (const p of payloads('legacy')) {
      const f = await storeFile(s, 'legacy', p.name, p.body, { mime: p.mime });
      urls.push(`${base}${storageUrl(f.key)}?disposition=inline`, `${base}${await signedPath(s, f.key)}`);
    }
    const { visits, leaked } = await visitAll(context, urls, control.url, beacons);
    expect(leaked).toEqual([]);
    for (const v of visits) expect(v.title, v.url).not.toMatch(/^pwned/);
  });

  it('a PNG opened directly still renders inline under the CSP', async () => {
    const f = await storeFile(s, 'alice', 'dot.png', PNG, { mime: 'image/png' });
    for (const url of [`${base}${storageUrl(f.key)}`, `${base}${await signedPath(s, f.key)}`]) {
      const page = await context.newPage();
      const res = await page.goto(url, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toBe(CSP);
      expect(res?.headers()['content-disposition']).toMatch(/^inline;/);
      const width = await imageWidth(page);
      expect(width).toBeGreaterThan(0);
      await page.close();
    }
  });

  it('a text/plain file with HTML inside renders as text, inline', async () => {
    const f = await storeFile(s, 'alice', 'notes.txt', '<b>not bold</b><script>1</script>', { mime: 'text/plain' });
    const page = await context.newPage();
    const res = await page.goto(`${base}${storageUrl(f.key)}`, { waitUntil: 'load' });
    expect(res?.headers()['content-disposition']).toMatch(/^inline;/);
    expect(await page.locator('body').innerText()).toContain('<b>not bold</b>');
    expect(await page.title()).not.toBe(TITLE);
    await page.close();
  });
});

describe('F-01 through nginx with X-Accel-Redirect: the CSP reaches the browser', { timeout: 180_000 }, () => {
  let rc: Rendered;
  let nginx: ChildProcess | undefined;
  let s: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let beacons: string[];
  let control: Awaited<ReturnType<typeof startControl>>;
  let base: string;

  beforeAll(async () => {
    const dir = await tempDir('sl-xss-nginx-');
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    rc = renderInto(dir, ports, [], { uploadRoot: path.join(dir, 'uploads') });
    s = await startTestServer({ ACCEL_REDIRECT_PREFIX: '/_protected/', TRUST_PROXY: '127.0.0.1', PUBLIC_BASE_URL: `https://127.0.0.1:${ports.https}` }, rc.uploadRoot);
    await s.app.listen({ port: ports.upstream, host: '127.0.0.1' });
    beacons = recordBeacons(s.app.server);
    nginx = await startNginx(rc);
    base = `https://127.0.0.1:${ports.https}`;
    control = await startControl(base);
    browser = await launchChromium();
    context = await browser.newContext({ acceptDownloads: false, ignoreHTTPSErrors: true });
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await control?.close();
    await stopNginx(nginx);
    await s?.close();
  });

  it('nginx serves the bytes, the app\'s CSP and disposition arrive, no script runs, a PNG renders', async () => {
    const png = await storeFile(s, 'alice', 'dot.png', PNG, { mime: 'image/png' });
    const page = await context.newPage();
    const res = await page.goto(`${base}${storageUrl(png.key)}`, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    expect(res?.headers()['x-accel-redirect']).toBeUndefined(); // nginx consumed it
    expect(res?.headers()['content-security-policy']).toBe(CSP);
    expect(await imageWidth(page)).toBeGreaterThan(0);
    await page.close();

    const urls: string[] = [];
    for (const p of payloads('nginx').slice(0, 4)) {
      const key = (await upload(s, p))!;
      const legacy = await storeFile(s, 'legacy', p.name, p.body, { mime: p.mime });
      urls.push(`${base}${storageUrl(key)}?disposition=inline`, `${base}${storageUrl(legacy.key)}?disposition=inline`, `${base}${await signedPath(s, legacy.key)}`);
    }
    const { visits, leaked } = await visitAll(context, urls, control.url, beacons);
    expect(leaked).toEqual([]);
    for (const v of visits) expect(v.title, v.url).not.toMatch(/^pwned/);
  });
});
