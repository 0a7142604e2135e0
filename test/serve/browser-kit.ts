/**
 * A real browser for the XSS tests: Debian's Chromium driven by playwright-core, a record of
 * every "/beacon" request a page's script would make, the payloads of the security review
 * (F-01), and a control page that proves the harness sees script run when it does.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium is required (CI installs it): a missing browser fails the test, never skips it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install it (apt-get install -y chromium) — these tests require it`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

/** A 1×1 PNG, to show that a passive type still renders inline under the CSP. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

export const TITLE = 'original title';

/** The script every payload runs: changes the title and calls `${origin}/beacon?v=${tag}`. */
const script = (tag: string, origin = ''): string => `document.title='pwned-${tag}';fetch('${origin}/beacon?v=${tag}',{mode:'no-cors'})`;

const html = (tag: string, origin?: string): string =>
  `<html><head><title>${TITLE}</title></head><body><p>hello</p><script>${script(tag, origin)}</script></body></html>`;

/** An XML document whose XHTML-namespaced script runs when a browser renders it as XML. */
const xhtml = (tag: string): string =>
  `<?xml version="1.0"?><x:html xmlns:x="http://www.w3.org/1999/xhtml"><x:head><x:title>${TITLE}</x:title></x:head>` +
  `<x:body><x:script>${script(tag)}</x:script></x:body></x:html>`;

const svg = (tag: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>${TITLE}</title><script>${script(tag)}</script></svg>`;

const mixedReplace = (tag: string): string => `--x\r\nContent-Type: text/html\r\n\r\n${html(tag)}\r\n--x--\r\n`;

export interface Payload {
  tag: string;
  mime: string;
  body: string;
  name: string;
}

/** One upload per way the review found (and the ones the old deny-list already caught). */
export function payloads(prefix: string): Payload[] {
  const p = (n: number, mime: string, body: (tag: string) => string, name: string): Payload => {
    const tag = `${prefix}${n}`;
    return { tag, mime, body: body(tag), name };
  };
  return [
    p(1, 'text/plain; x=1, text/html', html, 'x.txt'),
    p(2, 'text/plain;,text/html', html, 'x.txt'),
    p(3, 'text/plain, text/html', html, 'x.txt'),
    p(4, 'text/xsl', xhtml, 'x.xsl'),
    p(5, 'text/rdf', xhtml, 'x.rdf'),
    p(6, 'multipart/x-mixed-replace;boundary=x', mixedReplace, 'x.bin'),
    p(7, 'TEXT/HTML', html, 'x.html'),
    p(8, 'text/html;', html, 'x.html'),
    p(9, 'image/svg+xml', svg, 'x.svg'),
    p(10, 'application/xhtml+xml', xhtml, 'x.xhtml'),
    p(11, 'text/xml', xhtml, 'x.xml'),
    p(12, 'application/xml', xhtml, 'x.xml'),
    p(13, 'text/plain', html, 'x.txt'), // must render as text, never as HTML
  ];
}

/** Records every `/beacon` request that reaches `server`, whoever serves the rest. */
export function recordBeacons(server: http.Server): string[] {
  const seen: string[] = [];
  server.on('request', (req: http.IncomingMessage) => {
    if (req.url?.startsWith('/beacon')) seen.push(req.url);
  });
  return seen;
}

/** A page outside the app that runs the same kind of script, beaconing to `target`. */
export async function startControl(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(html('control', target));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/page`, close: () => new Promise((r) => server.close(() => r())) };
}

export interface Visit {
  url: string;
  title: string;
  /** The navigation became a download (Content-Disposition: attachment). */
  download: boolean;
  csp: string | undefined;
}

/**
 * Opens `url` as a top-level navigation in its own tab (kept open, so a script's request is
 * never cut short by navigating away) and reads what the user would see.
 */
export async function visit(context: BrowserContext, url: string): Promise<Visit> {
  const page = await context.newPage();
  let download = false;
  let csp: string | undefined;
  page.on('download', () => (download = true));
  try {
    const res = await page.goto(url, { waitUntil: 'load' });
    csp = res?.headers()['content-security-policy'];
  } catch (err) {
    // Chromium turns an attachment into a download and aborts the navigation.
    if (!/download is starting|net::ERR_ABORTED/i.test(String(err))) throw err;
    download = true;
  }
  const title = await page.title().catch(() => '');
  return { url, title, download, csp };
}

/** naturalWidth of the page's image (0 when it did not decode): the image document Chromium shows. */
export function imageWidth(page: Page): Promise<number> {
  // Typed structurally: the test tsconfig has no DOM library.
  return page.locator('img').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth);
}
