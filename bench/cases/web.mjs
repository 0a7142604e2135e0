// web (issue 16): the web app in Debian's Chromium (playwright-core with executablePath, as
// test/web does), served by the production build on SQLite.
// (a) A folder of 100,000 files (--quick 10,000; seeded with better-sqlite3 while the server is
//     stopped, as the listing case does): from navigation to `#/files/big` (signed in by
//     cookie: POST /auth/login {"session":"cookie"} in the browser context, a fresh context per
//     run, so the page's JS and CSS load cold) to the first rows visible; then "Name A–Z"
//     chosen in the page to its first rows in that order; then a name filter typed (the page
//     waits 200 ms after the last key before it asks; included). Target < 1 s for the first two.
// (b) 1 GiB (--quick 256 MiB) uploaded through the page's file picker (DOM.setFileInputFiles:
//     the browser reads the file itself) until the page shows it done — in Chromium driven by
//     hand over CDP (lib/cdp.mjs), not playwright, whose network capture slows every request
//     body ~10× — beside the CLI
//     (`stream-line upload`, dist/cli/bin.js, a process per run, start-up included) uploading the
//     same file to the same server; runs interleaved, ratio of the paired runs. Target ≥ 0.7×.
//     Also the CPU seconds per GiB of each client (every Chromium process; the CLI process) and
//     of the server meanwhile: on a shared 2-core machine the client's CPU is what limits it.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { launchBare } from '../lib/cdp.mjs';
import { call, request } from '../lib/http.mjs';
import { cpuSeconds, makeFile, mbps, median, sizeLabel, warm } from '../lib/measure.mjs';
import { run as runCmd } from '../lib/proc.mjs';
import { info, limitRow, ratioRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'web';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'bench-web-password-1';
const USERNAME = 'bench-web';
const FOLDER = 'big';
const PICKER = 'input[aria-label="Choose files to upload"]';
const fileName = (i) => `file-${String(i).padStart(6, '0')}.bin`;

function seed(dbFile, userId, count) {
  const db = new Database(dbFile);
  try {
    db.pragma('journal_mode = WAL');
    const insert = db.prepare('INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const base = Date.now() - count * 1000;
    let bytes = 0;
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const id = randomBytes(16).toString('hex');
        const size = 1024 + ((i * 7919) % 100_000);
        bytes += size;
        insert.run(id, `storage/${userId}/${FOLDER}/${id}_${fileName(i)}`, userId, FOLDER, fileName(i), size, 'application/octet-stream', 'e'.repeat(64), new Date(base + i * 1000).toISOString());
      }
      db.prepare(
        `INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes) VALUES (?, ?, ?, 0)
         ON CONFLICT(user_id) DO UPDATE SET file_count = file_count + excluded.file_count, used_bytes = used_bytes + excluded.used_bytes`,
      ).run(userId, count, bytes);
    })();
  } finally {
    db.close();
  }
}

/** A browser context signed in by cookie, as the page's own login does (Origin: the CSRF rule). */
async function signedIn(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const res = await context.request.post(`${url}/auth/login`, { data: { username: USERNAME, password: PASSWORD, session: 'cookie' }, headers: { origin: url } });
  if (res.status() !== 200) throw new Error(`cookie login → ${res.status()}: ${await res.text()}`);
  return context;
}

/** CPU seconds used so far by the Chromium with profile `profileDir` and every process under it (renderers sit under its zygote). */
function chromiumCpuSeconds(profileDir) {
  const procs = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      procs.push({ pid: Number(d), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8') });
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = new Set(procs.filter((p) => p.cmd.includes(`--user-data-dir=${profileDir}`) && p.cmd.includes('--remote-debugging-pipe')).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (tree.has(p.pid) || !tree.has(p.ppid)) continue;
      tree.add(p.pid);
      grew = true;
    }
  }
  return [...tree].reduce((sum, pid) => sum + (cpuSeconds(pid) || 0), 0);
}
/** CPU seconds of this process's exited, waited-for children (a CLI run). */
const childCpuSeconds = () => cpuSeconds(process.pid, { children: true }) - cpuSeconds(process.pid);

const firstRowIs = (page, text) =>
  page.waitForFunction((t) => document.querySelector('.file[data-row="0"] .name')?.textContent === t, text, { timeout: 30_000 });

export async function run(ctx) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  const count = ctx.sizes.listingFiles;
  const size = ctx.sizes.big;
  const reps = ctx.reps(5);
  const upReps = ctx.reps(5);
  const root = path.join(ctx.work, 'web-root');
  const src = path.join(ctx.work, 'web-src.bin');
  const state = path.join(ctx.work, 'web-cli-state');
  const svc = { 'x-service-token': ctx.secrets.serviceToken };
  let server;
  let browser;
  try {
    server = await startServer(ctx, { caseName: name, name: 'web-schema', root });
    const user = await call('POST', `${server.url}/v1/admin/users`, { headers: svc, body: { username: USERNAME, password: PASSWORD, role: 'operator', quota_gb: 100 } });
    await server.stop();
    const t0 = Date.now();
    seed(path.join(root, 'metadata.sqlite'), user.id, count);
    ctx.log(`  seeded ${count} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    server = await startServer(ctx, { caseName: name, name: 'web', root });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });

    // (a) First rows of a 100,000-file folder; then sorted by name; then filtered.
    const t = { first: [], byName: [], filter: [] };
    const last = fileName(count - 1);
    const needle = fileName(count - 4242).slice(3, 10); // e.g. "e-09575": ten names match
    for (let rep = 0; rep <= reps; rep++) {
      await ctx.beforeRep();
      const context = await signedIn(browser, server.url);
      const page = await context.newPage();
      const a = performance.now();
      await page.goto(`${server.url}/#/files/${FOLDER}`);
      await firstRowIs(page, last); // newest first
      const b = performance.now();
      await page.getByLabel('Sort by').selectOption('name-asc');
      await firstRowIs(page, fileName(0));
      const c = performance.now();
      await page.getByLabel('Filter by name').fill(needle.toUpperCase());
      await firstRowIs(page, `fil${needle}0.bin`);
      const d = performance.now();
      await context.close();
      if (rep === 0) continue; // warm-up: the server's page cache and statements
      t.first.push(b - a);
      t.byName.push(c - b);
      t.filter.push(d - c);
      ctx.log(`  web rep ${rep}/${reps}: first rows ${(b - a).toFixed(0)} ms, by name ${(c - b).toFixed(0)} ms, filter ${(d - c).toFixed(0)} ms`);
    }
    const files = `${count.toLocaleString('en')} files`;
    const rows = [
      limitRow(name, `first render of a folder of ${files} (navigation → first rows, cold page)`, median(t.first), 'ms', 1000, { detail: `runs ${t.first.map(Math.round).join(', ')} ms` }),
      limitRow(name, `same folder sorted by name (choose "Name A–Z" → first rows in that order)`, median(t.byName), 'ms', 1000, { detail: `runs ${t.byName.map(Math.round).join(', ')} ms` }),
      info(name, `same folder filtered by name (last key → first match; 200 ms typing pause included)`, median(t.filter), 'ms', { detail: `runs ${t.filter.map(Math.round).join(', ')} ms` }),
    ];

    // (b) 1 GiB through the page's picker vs the CLI, same server, same file.
    makeFile(src, size);
    await warm(src);
    mkdirSync(state, { recursive: true });
    const token = (await call('POST', `${server.url}/auth/login`, { body: { username: USERNAME, password: PASSWORD } })).access_token;
    const clear = async () => {
      await call('DELETE', `${server.url}/v1/files/folder?folder=up&user_id=${user.id}`, { headers: svc });
      await runCmd('sync', []);
    };
    const cookies = async () => {
      const res = await request('POST', `${server.url}/auth/login`, { headers: { origin: server.url }, body: { username: USERNAME, password: PASSWORD, session: 'cookie' } });
      if (res.status !== 200) throw new Error(`cookie login → ${res.status}`);
      return [res.headers['set-cookie']].flat().map((c) => {
        const [pair, ...attrs] = c.split(';');
        const at = pair.indexOf('=');
        const pathAttr = attrs.map((a) => a.trim()).find((a) => /^path=/i.test(a));
        return { name: pair.slice(0, at), value: pair.slice(at + 1), url: server.url, path: pathAttr ? pathAttr.slice(5) : '/', httpOnly: true, sameSite: 'Strict' };
      });
    };
    const u = { browser: [], cli: [] };
    const gib = size / 2 ** 30;
    const cpu = { browser: [], cli: [], serverB: [], serverC: [] };
    for (let rep = 0; rep < upReps; rep++) {
      await ctx.beforeRep();
      // A fresh profile each run: no saved upload to resume, cold page.
      const profile = path.join(ctx.work, `web-profile-${rep}`);
      const bare = await launchBare(profile);
      try {
        await bare.browser('Storage.setCookies', { cookies: await cookies() });
        await bare.send('Page.navigate', { url: `${server.url}/#/files/up` });
        await bare.evaluate(`new Promise((ok, fail) => { const t0 = Date.now(); (function wait() { if (document.querySelector('${PICKER}')) ok(true); else if (Date.now() - t0 > 30000) fail(new Error('no file picker')); else setTimeout(wait, 20); })(); })`);
        const [c0, s0] = [chromiumCpuSeconds(profile), server.cpuSeconds()];
        const a = performance.now();
        await bare.setFiles(PICKER, [src]);
        const ended = await bare.evaluate(`new Promise((ok) => { (function wait() { const s = document.querySelector('.upload')?.dataset.state; if (s === 'done' || s === 'error' || s === 'failed') ok(s); else setTimeout(wait, 10); })(); })`);
        if (ended !== 'done') throw new Error(`the page's upload ended ${ended}`);
        u.browser.push(mbps(size, (performance.now() - a) / 1000));
        cpu.browser.push((chromiumCpuSeconds(profile) - c0) / gib);
        cpu.serverB.push((server.cpuSeconds() - s0) / gib);
      } finally {
        await bare.close();
      }
      await clear();

      const [c1, s1] = [childCpuSeconds(), server.cpuSeconds()];
      const b = performance.now();
      const cli = await runCmd(process.execPath, [path.join(ctx.appDir, 'dist/cli/bin.js'), 'upload', src, '--folder', 'up', '--server', server.url, '--json'], {
        env: { PATH: process.env.PATH, HOME: ctx.work, XDG_STATE_HOME: state, XDG_CONFIG_HOME: state, STREAM_LINE_TOKEN: token },
      });
      if (cli.code !== 0) throw new Error(`stream-line upload → exit ${cli.code}: ${(cli.stderr || cli.stdout).slice(0, 500)}`);
      u.cli.push(mbps(size, (performance.now() - b) / 1000));
      cpu.cli.push((childCpuSeconds() - c1) / gib);
      cpu.serverC.push((server.cpuSeconds() - s1) / gib);
      await clear();
      ctx.log(`  upload rep ${rep + 1}/${upReps}: browser ${u.browser.at(-1).toFixed(0)} MB/s, CLI ${u.cli.at(-1).toFixed(0)} MB/s`);
    }
    rows.push(
      ratioRow(name, `browser upload of ${sizeLabel(size)} (picker → done, the page's parts)`, median(u.browser), 'MB/s', 'CLI stream-line upload', median(u.cli), 0.7, { runs: [u.browser, u.cli], detail: `browser ${u.browser.map(Math.round).join(', ')}; CLI ${u.cli.map(Math.round).join(', ')} MB/s` }),
      info(name, `CLI stream-line upload of ${sizeLabel(size)} (process start → exit)`, median(u.cli), 'MB/s'),
      info(name, `CPU per GiB of the browser upload: every Chromium process`, median(cpu.browser), 's', { detail: `server meanwhile ${median(cpu.serverB).toFixed(1)} s/GiB` }),
      info(name, `CPU per GiB of the CLI upload: the CLI process`, median(cpu.cli), 's', { detail: `server meanwhile ${median(cpu.serverC).toFixed(1)} s/GiB` }),
    );
    return rows;
  } finally {
    await browser?.close();
    await server?.stop?.();
    rmSync(src, { force: true });
  }
}
