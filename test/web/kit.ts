/**
 * For the browser suites of the web app: the real server on a socket (serving the page that
 * the test global setup built into dist/webapp/) behind the part-counting proxy of the CLI
 * suites (test/cli-user/kit.ts: counts part PUTs, can hold them back, records every request
 * with its Range header), Debian's Chromium, and helpers that act as a person would.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startPartProxy, type PartProxy } from '../cli-user/kit.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';

export const OUTPUT = path.resolve('test-output', 'web');

export interface WebWorld {
  server: TestServer;
  /** The proxy's address: where the browser goes (the server's own address is PUBLIC_BASE_URL). */
  url: string;
  base: string;
  proxy: PartProxy;
  adminPassword: string;
  addUser(username: string, role?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startWebWorld(env: Record<string, string> = {}): Promise<WebWorld> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The browser's origin is the proxy's, so it is PUBLIC_BASE_URL: the CSRF rule sees the
  // page's requests as same-origin, and signed links point where the browser can open them.
  const proxy = await startPartProxy(base);
  const server = await startTestServer({ PUBLIC_BASE_URL: proxy.url, ...env });
  await server.app.listen({ port, host: '127.0.0.1' });
  return {
    server,
    url: proxy.url,
    base,
    proxy,
    adminPassword: server.adminPassword,
    async addUser(username, role = 'operator') {
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const res = await server.asBearer(await server.adminToken(), { method: 'POST', url: '/v1/admin/users', payload: { username, password, role } });
      if (res.statusCode !== 201) throw new Error(`user ${username}: ${res.statusCode} ${res.body}`);
      return password;
    },
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

/** A fresh context (no cookies, no storage) at desktop size, the page's errors collected. */
export async function newPage(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && errors.push(m.text()));
  return { context, page, errors };
}

/** Types the credentials into the sign-in form and waits for the files view. */
export async function signIn(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(url + '/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await fs.mkdir(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

const AXE = path.resolve('node_modules', 'axe-core', 'axe.min.js');

/**
 * axe-core's serious and critical violations on the page as it is now. Injected through the
 * DevTools protocol (page.evaluate), which the page's CSP does not govern: the page itself
 * allows no inline script.
 */
export async function axeViolations(page: Page): Promise<Array<{ id: string; impact: string; nodes: string[] }>> {
  const source = await fs.readFile(AXE, 'utf8');
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, o: unknown) => Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const r = await axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

/** Bytes of a deterministic pattern (cheap to make, never all zeros). */
export function patternBytes(n: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, Math.min(i, n - 4));
  }
  return out;
}
