/**
 * The web app in Chromium, scripted as a person uses it (issue 16 "Tests"): sign in with a
 * cookie session (no token readable by script), drop two files, upload files and a folder
 * with the pickers and watch progress reach 100 %, browse into the folder, preview an image
 * and a video (a Range request reaches the server), see hostile HTML and SVG as text that
 * never runs, copy a signed link and open it with no cookies, move, delete, ZIP three files,
 * create a user as admin, log out (cookies gone, back shows no data) and sign in as the new
 * user; screenshots at desktop, phone and dark; axe-core on each main view. And a 50 MiB
 * upload interrupted by a reload and resumed by adding the file again: the parts the server
 * had are not sent again (counted at the proxy). And a folder of 2,500 files sorted and
 * filtered by the server: one first page per order or filter, the rest by cursor as it scrolls.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.js';
import { launchChromium, PNG } from '../serve/browser-kit.js';
import { fileOf } from '../db/fixtures.js';
import { axeViolations, newPage, patternBytes, screenshot, signIn, startWebWorld, type WebWorld } from './kit.js';

const execFileP = promisify(execFile);
let w: WebWorld;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  [w, browser, dir] = await Promise.all([startWebWorld(), launchChromium(), tempDir('sl-web-')]);
});
afterAll(async () => {
  await browser?.close();
  await w?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const beacon = (tag: string) => `fetch('/beacon?v=${tag}');window.top.pwned='${tag}'`;
const EVIL_HTML = `<html><body><p>hi</p><script>${beacon('html')}</script></body></html>`;
const EVIL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>${beacon('svg')}</script></svg>`;

const doneCount = (page: Page) => page.locator('.upload[data-state="done"]').count();
const fileRow = (page: Page, name: string) => page.locator('.file').filter({ has: page.getByRole('button', { name, exact: true }) });

async function openFile(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name, exact: true }).click();
  await page.getByRole('dialog', { name }).waitFor();
}
async function closeDialog(page: Page): Promise<void> {
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
}

describe('the web app in Chromium', () => {
  it('a person signs in, uploads, browses, previews, shares, zips, deletes, manages users and signs out', async () => {
    const { context, page, errors } = await newPage(browser);
    await signIn(page, w.url, 'admin', w.adminPassword);

    // The session is HttpOnly cookies: nothing a script could read or a reload would keep.
    const readable = await page.evaluate(() => {
      // Typed structurally: the test tsconfig has no DOM library.
      type Store = { length: number; key(i: number): string | null; getItem(k: string): string | null };
      const g = globalThis as unknown as { document: { cookie: string }; localStorage: Store; sessionStorage: Store };
      const all = (s: Store) => Array.from({ length: s.length }, (_, i) => s.getItem(s.key(i)!) ?? '');
      return [g.document.cookie, ...all(g.localStorage), ...all(g.sessionStorage)].join('\n');
    });
    expect(readable).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    expect((await context.cookies()).find((c) => c.name === 'auth_token')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    // Two files dropped on the page, four picked, and a folder (with a sub-folder) picked.
    const drop = await page.evaluateHandle(() => {
      const g = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: string[], name: string, o: { type: string }) => unknown };
      const dt = new g.DataTransfer();
      dt.items.add(new g.File(['first dropped'], 'd1.txt', { type: 'text/plain' }));
      dt.items.add(new g.File(['second dropped'], 'd2.txt', { type: 'text/plain' }));
      return dt;
    });
    await page.dispatchEvent('main.files', 'drop', { dataTransfer: drop });
    await page.getByLabel('Choose files to upload').setInputFiles([
      { name: 'a.png', mimeType: 'image/png', buffer: PNG },
      { name: 'clip.webm', mimeType: 'video/webm', buffer: patternBytes(300_000) },
      { name: 'evil.html', mimeType: 'text/html', buffer: Buffer.from(EVIL_HTML) },
      { name: 'evil.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(EVIL_SVG) },
    ]);
    const trip = path.join(dir, 'trip');
    await fs.mkdir(path.join(trip, 'sub'), { recursive: true });
    await fs.writeFile(path.join(trip, 'one.txt'), 'one');
    await fs.writeFile(path.join(trip, 'sub', 'two.txt'), 'two');
    await page.getByLabel('Choose a folder to upload').setInputFiles(trip);
    await expect.poll(() => doneCount(page), { timeout: 15_000 }).toBe(8);
    expect(await page.getByTestId('upload-total').innerText()).toMatch(/^100 %/);
    await expect.poll(() => page.locator('.file').count()).toBe(6);
    await page.getByRole('link', { name: /^trip/ }).waitFor();
    await screenshot(page, 'files-desktop');
    expect(await axeViolations(page)).toEqual([]);

    // Into the folder and its sub-folder, then back by the breadcrumbs.
    await page.getByRole('link', { name: /^trip/ }).click();
    await fileRow(page, 'one.txt').waitFor();
    await page.getByRole('link', { name: /^sub/ }).click();
    await fileRow(page, 'two.txt').waitFor();
    const crumbs = page.getByRole('navigation', { name: 'Breadcrumbs' });
    expect(await crumbs.innerText()).toMatch(/My files\s*\/?\s*trip\s*\/?\s*sub/);
    await crumbs.getByRole('link', { name: 'My files' }).click();
    await fileRow(page, 'a.png').waitFor();

    // Previews: the image decodes; the video streams with Range.
    await openFile(page, 'a.png');
    await expect.poll(() => page.locator('img.preview').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth)).toBe(1);
    await closeDialog(page);
    await openFile(page, 'clip.webm');
    await expect.poll(() => w.proxy.requests.some((r) => r.method === 'GET' && r.url.includes('clip.webm') && /^bytes=/.test(r.range ?? ''))).toBe(true);
    await closeDialog(page);

    // Hostile HTML and SVG: shown as text in the preview, and opened directly never run either.
    for (const name of ['evil.html', 'evil.svg']) {
      await openFile(page, name);
      await expect.poll(() => page.locator('pre.preview').innerText()).toContain('<script>');
      await closeDialog(page);
    }
    const keys = await page.evaluate(async () => {
      const r = await fetch('/v1/files/all');
      return ((await r.json()) as { files: Array<{ key: string; filename: string }> }).files;
    });
    for (const f of keys.filter((k) => k.filename.startsWith('evil.'))) {
      const tab = await context.newPage();
      await tab.goto(`${w.url}/${f.key}`).catch(() => undefined); // an attachment aborts the navigation
      await tab.waitForTimeout(200);
      await tab.close();
    }
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: string }).pwned)).toBeUndefined();
    expect(w.proxy.requests.filter((r) => r.url.startsWith('/beacon'))).toEqual([]);

    // A signed link, opened in a fresh context with no cookies.
    await openFile(page, 'd1.txt');
    await page.getByLabel('Valid for').selectOption({ label: '1 day' });
    await page.getByRole('button', { name: 'Copy signed link' }).click();
    const link = await page.getByLabel(/^Link/).inputValue();
    expect(link).toMatch(/\/get\//);
    const stranger = await browser.newContext();
    const res = await (await stranger.newPage()).goto(link);
    expect(await res!.text()).toBe('first dropped');
    await stranger.close();

    // Move (when the server has the route; otherwise the page says so and moves nothing).
    await page.getByLabel(/Move or rename to/).fill('moved/d1.txt');
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    const movedKeys = async () => (await w.server.asService({ method: 'GET', url: `/v1/files/all?user_id=${keys[0]!.key.split('/')[1]}&folder=moved` })).json().files.length;
    await expect
      .poll(async () => ((await page.getByText('not supported by this server').count()) > 0 ? 'unsupported' : (await movedKeys()) === 1 ? 'moved' : 'waiting'))
      .not.toBe('waiting');
    if ((await page.getByRole('dialog').count()) > 0) await closeDialog(page);

    // Delete with confirmation.
    await openFile(page, 'd2.txt');
    await page.getByRole('dialog', { name: 'd2.txt' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete file' }).getByRole('button', { name: 'Delete' }).click();
    await fileRow(page, 'd2.txt').waitFor({ state: 'detached' });
    expect(keys.find((k) => k.filename === 'd2.txt')).toBeDefined();
    expect((await w.server.asService({ method: 'GET', url: `/v1/files/metadata/${keys.find((k) => k.filename === 'd2.txt')!.key}` })).statusCode).toBe(404);

    // Three selected, one ZIP.
    for (const name of ['a.png', 'evil.html', 'clip.webm']) await page.getByLabel(`Select ${name}`).check();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download ZIP' }).click()]);
    const zipFile = path.join(dir, 'three.zip');
    await download.saveAs(zipFile);
    const entries = (await execFileP('unzip', ['-Z1', zipFile])).stdout.trim().split('\n').sort();
    expect(entries).toEqual(['a.png', 'clip.webm', 'evil.html']);

    // Phone width and dark mode.
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'files-phone');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'files-phone-dark');
    expect(await axeViolations(page)).toEqual([]);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });

    // As admin: a new user.
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('form', { name: 'Create a user' }).getByLabel('Username').fill('bob');
    await page.getByRole('form', { name: 'Create a user' }).getByLabel('Password').fill('bob-password-1');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('User bob created.').waitFor();
    await page.getByRole('rowheader', { name: 'bob' }).waitFor();
    await screenshot(page, 'users-desktop');
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'Files' }).click();
    await fileRow(page, 'a.png').waitFor();

    // Log out: cookies gone, and going back shows the sign-in form, not the files.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect((await context.cookies()).map((c) => c.name)).not.toContain('auth_token');
    await page.goBack();
    await page.waitForTimeout(300);
    expect(await page.getByText('a.png').count()).toBe(0);
    await screenshot(page, 'login');
    expect(await axeViolations(page)).toEqual([]);

    // The new user signs in and has an empty folder.
    await signIn(page, w.url, 'bob', 'bob-password-1');
    await page.getByText(/No files here yet/).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a folder larger than a page: sorting and filtering ask the server, one page at a time, and scrolling follows the cursor', async () => {
    const password = await w.addUser('lister');
    const user = (await w.server.app.ctx.store.users.getUserByUsername('lister'))!;
    const names = Array.from({ length: 2_500 }, (_, i) => `file-${String(i).padStart(4, '0')}.txt`);
    for (const [i, filename] of names.entries()) {
      const f = fileOf(user.id, 'many', i % 7);
      await w.server.app.ctx.store.files.insertFile({ ...f, filename, key: f.key.replace(/_[^/]*$/, `_${filename}`) }, { userId: user.id, defaultQuotaBytes: 1e12 });
    }
    const { context, page, errors } = await newPage(browser);
    await signIn(page, w.url, 'lister', password);
    w.proxy.reset();
    const listings = () => w.proxy.requests.filter((r) => r.url.startsWith('/v1/files/all') && r.url.includes('folder=many')).map((r) => new URL(r.url, 'http://x').searchParams);
    await page.getByRole('link', { name: /^many/ }).click();
    await fileRow(page, 'file-2499.txt').waitFor(); // newest first
    const rowName = (i: number) => page.locator(`.file[data-row="${i}"] .name`).innerText({ timeout: 1000 }).catch(() => '');
    const firstRow = () => rowName(0);

    await page.getByLabel('Sort by').selectOption('name-desc');
    await expect.poll(firstRow, { timeout: 5000 }).toBe('file-2499.txt');
    await page.getByLabel('Sort by').selectOption('name-asc');
    await expect.poll(firstRow, { timeout: 5000 }).toBe('file-0000.txt');
    // Each order is one request of a first page: nothing loads the whole folder to sort it.
    expect(listings().map((q) => [q.get('sort'), q.get('order'), q.get('limit'), q.get('cursor')])).toEqual([
      ['date', 'desc', '200', null],
      ['name', 'desc', '200', null],
      ['name', 'asc', '200', null],
    ]);
    // Scrolled to the end, the rows come by cursor in that order.
    await page.locator('.list').evaluate((el) => ((el as unknown as { scrollTop: number }).scrollTop = 1e9));
    await expect.poll(() => rowName(2499), { timeout: 10_000 }).toBe('file-2499.txt');
    expect(listings().slice(3).every((q) => q.get('sort') === 'name' && q.get('order') === 'asc' && q.get('cursor'))).toBe(true);

    // The filter: the server's matches and totals, asked once typing pauses.
    await page.getByLabel('Filter by name').pressSequentially('E-12', { delay: 20 });
    await expect.poll(firstRow, { timeout: 5000 }).toBe('file-1200.txt');
    expect(await page.getByText(/^100 matching files/).count()).toBe(1);
    expect(listings().filter((q) => q.get('q')).map((q) => q.get('q'))).toEqual(['E-12']);
    await page.getByLabel('Filter by name').fill('no such file');
    await page.getByText('No file matches the filter.').waitFor({ timeout: 5000 });
    // Out and back in: the order chosen stays, the filter does not.
    await page.getByRole('navigation', { name: 'Breadcrumbs' }).getByRole('link', { name: 'My files' }).click();
    await page.getByRole('link', { name: /^many/ }).click();
    await expect.poll(firstRow, { timeout: 5000 }).toBe('file-0000.txt');
    expect([await page.getByLabel('Sort by').inputValue(), await page.getByLabel('Filter by name').inputValue()]).toEqual(['name-asc', '']);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('resumes a 50 MiB upload after a reload, sending only the parts the server lacks', async () => {
    const file = path.join(dir, 'big.bin');
    const bytes = patternBytes(50 * 1024 * 1024, 11);
    await fs.writeFile(file, bytes);
    const password = await w.addUser('carol');
    const { context, page } = await newPage(browser);
    await signIn(page, w.url, 'carol', password);

    w.proxy.reset();
    w.proxy.holdAfter(2);
    await page.getByLabel('Choose files to upload').setInputFiles(file);
    await w.proxy.stored(2);
    const partOf = (url: string) => Number(new URL(url, 'http://x').searchParams.get('partNumber'));
    const before = w.proxy.requests.filter((r) => r.method === 'PUT').slice(0, 2).map((r) => partOf(r.url));
    await page.reload();
    w.proxy.reset();

    await page.getByRole('region', { name: 'Unfinished uploads' }).getByText('big.bin').waitFor();
    await page.getByLabel('Choose files to upload').setInputFiles(file);
    await expect.poll(() => doneCount(page), { timeout: 30_000 }).toBe(1);
    expect(await page.locator('.upload').innerText()).toMatch(/resumed at 16 MiB/);
    const after = w.proxy.requests.filter((r) => r.method === 'PUT').map((r) => partOf(r.url));
    const partCount = Math.max(...before, ...after);
    expect(partCount).toBe(Math.ceil(bytes.length / (8 * 1024 * 1024)));
    expect(after.filter((n) => before.includes(n))).toEqual([]);
    expect([...before, ...after].sort((a, b) => a - b)).toEqual(Array.from({ length: partCount }, (_, i) => i + 1));
    const list = await page.evaluate(async () => (await (await fetch('/v1/files/all')).json()) as { files: Array<{ filename: string; sha256: string }> });
    expect(list.files).toEqual([expect.objectContaining({ filename: 'big.bin', sha256: createHash('sha256').update(bytes).digest('hex') })]);
    expect(await page.getByRole('region', { name: 'Unfinished uploads' }).count()).toBe(0);
    await context.close();
  });
});
