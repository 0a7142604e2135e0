// 5. Listing for one user with 100,000 files (--quick 10,000): the first page of 1,000, a
//    folder-filtered page (a top folder holding a tenth of the files, and a leaf folder holding
//    a hundredth), and the 50th page by cursor (--quick: the 10th); p50 and p99 over sequential
//    keep-alive requests. The rows are written straight into SQLite with better-sqlite3 in one
//    transaction while the server is stopped (started once before, to create the schema).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from '../lib/http.mjs';
import { median, percentile } from '../lib/measure.mjs';
import { info, limitRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'listing';

const USER = 'bench-lister';
const PAGE = 1000;

function seed(dbFile, count) {
  const db = new Database(dbFile);
  try {
    db.pragma('journal_mode = WAL');
    const insert = db.prepare(
      'INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const usage = db.prepare(
      `INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes) VALUES (?, ?, ?, 0)
       ON CONFLICT(user_id) DO UPDATE SET file_count = file_count + excluded.file_count, used_bytes = used_bytes + excluded.used_bytes`,
    );
    const base = Date.now() - count * 1000;
    const t0 = process.hrtime.bigint();
    db.transaction(() => {
      let bytes = 0;
      for (let i = 0; i < count; i++) {
        const id = randomBytes(16).toString('hex');
        const folder = `p${i % 10}/s${Math.floor(i / 10) % 10}`; // 100 leaf folders under 10 top folders
        const filename = `file-${i}.bin`;
        const size = 1024 + (i % 4096);
        bytes += size;
        const key = `storage/${USER}/${folder}/${id}_${filename}`;
        insert.run(id, key, USER, folder, filename, size, 'application/octet-stream', randomBytes(32).toString('hex'), new Date(base + i * 1000).toISOString());
      }
      usage.run(USER, count, bytes);
    })();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    db.close();
  }
}

export async function run(ctx) {
  const count = ctx.sizes.listingFiles;
  const samples = ctx.quick ? 100 : 200;
  const root = path.join(ctx.work, 'listing-root');
  let server = await startServer(ctx, { caseName: name, name: 'listing-schema', root });
  await server.stop();
  const seedSeconds = seed(path.join(root, 'metadata.sqlite'), count);
  ctx.log(`  seeded ${count} rows in ${seedSeconds.toFixed(2)} s`);
  server = await startServer(ctx, { caseName: name, name: 'listing', root });
  try {
    const token = await server.token(USER);
    const headers = { authorization: `Bearer ${token}` };
    const list = async (query) => {
      const res = await request('GET', `${server.url}/v1/files/all?${new URLSearchParams(query)}`, { headers });
      if (res.status !== 200) throw new Error(`GET /v1/files/all?${new URLSearchParams(query)} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
      return res;
    };
    // The cursor of page N, walked once (untimed).
    const pageNo = Math.min(50, Math.ceil(count / PAGE));
    let cursor = null;
    for (let p = 1; p < pageNo; p++) {
      const body = (await list({ limit: PAGE, ...(cursor ? { cursor } : {}) })).json();
      if (body.files.length !== PAGE || !body.next_cursor) throw new Error(`page ${p} had ${body.files.length} files, cursor ${body.next_cursor}`);
      cursor = body.next_cursor;
    }
    const queries = {
      first: { limit: PAGE },
      top: { limit: PAGE, folder: 'p3' },
      leaf: { limit: PAGE, folder: 'p3/s7' },
      nth: { limit: PAGE, ...(cursor ? { cursor } : {}) },
    };
    const check = {
      first: (b) => b.files.length === PAGE && b.total_count === count,
      top: (b) => b.files.length === Math.min(PAGE, count / 10) && b.total_count === count / 10 && b.files.every((f) => f.folder.startsWith('p3/')),
      leaf: (b) => b.files.length === Math.min(PAGE, count / 100) && b.total_count === count / 100,
      nth: (b) => b.files.length === Math.min(PAGE, count - (pageNo - 1) * PAGE),
    };
    for (const [id, q] of Object.entries(queries)) {
      const b = (await list(q)).json();
      if (!check[id](b)) throw new Error(`${id}: unexpected answer: ${b.files.length} files, total_count ${b.total_count}`);
    }
    for (let i = 0; i < 20; i++) for (const q of Object.values(queries)) await list(q); // warm-up
    const ms = Object.fromEntries(Object.keys(queries).map((k) => [k, []]));
    let bytes = {};
    for (let i = 0; i < samples; i++) {
      for (const [id, q] of Object.entries(queries)) {
        const res = await list(q);
        ms[id].push(res.ms);
        bytes[id] = res.body.length;
      }
    }
    const row = (id, label) =>
      limitRow(name, `${label}: p50`, median(ms[id]), 'ms', 20, {
        detail: `p99 ${percentile(ms[id], 99).toFixed(1)} ms; ${samples} sequential requests; ${Math.round(bytes[id] / 1024)} KiB JSON`,
      });
    const fmt = count.toLocaleString('en-US');
    return [
      info(name, `seed ${fmt} rows (one transaction)`, seedSeconds * 1000, 'ms'),
      row('first', `${fmt} files, first page of ${PAGE}`),
      row('top', `${fmt} files, folder=p3 (${(count / 10).toLocaleString('en-US')} below it), first page`),
      row('leaf', `${fmt} files, folder=p3/s7 (${(count / 100).toLocaleString('en-US')} files), first page`),
      row('nth', `${fmt} files, page ${pageNo} by cursor`),
    ];
  } finally {
    await server.stop();
  }
}
