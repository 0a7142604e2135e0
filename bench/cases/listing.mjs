// 5. Listing for one user with 100,000 files (--quick 10,000): the first page of 1,000, a
//    folder-filtered page (a top folder holding a tenth of the files, and a leaf folder holding
//    a hundredth), and the 50th page by cursor (--quick: the 10th); p50 and p99 over sequential
//    keep-alive requests. On each engine: SQLite, the rows written with better-sqlite3 in one
//    transaction while the server is stopped (started once before, to create the schema);
//    PostgreSQL, the same rows made by one INSERT … SELECT over generate_series in the
//    server's own database (then VACUUM ANALYZE, as autovacuum would have done). Both servers
//    run side by side and the requests alternate between them; PostgreSQL's figures are given
//    as ratios to SQLite's of the same run.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request } from '../lib/http.mjs';
import { median, percentile } from '../lib/measure.mjs';
import { info, limitRatioRow, limitRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'listing';

const USER = 'bench-lister';
const PAGE = 1000;
const LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

const folderOf = (i) => `p${i % 10}/s${Math.floor(i / 10) % 10}`; // 100 leaf folders under 10 top folders
const sizeOf = (i) => 1024 + (i % 4096);

function totalBytes(count) {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += sizeOf(i);
  return bytes;
}

function seedSqlite(dbFile, count, base) {
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
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const id = randomBytes(16).toString('hex');
        const filename = `file-${i}.bin`;
        const key = `storage/${USER}/${folderOf(i)}/${id}_${filename}`;
        insert.run(id, key, USER, folderOf(i), filename, sizeOf(i), 'application/octet-stream', randomBytes(32).toString('hex'), new Date(base + i * 1000).toISOString());
      }
      usage.run(USER, count, totalBytes(count));
    })();
  } finally {
    db.close();
  }
}

// The same rows as seedSqlite (folders, sizes, one second apart, ISO times as the server
// writes them), made inside PostgreSQL; ids are 32 random hex digits there too.
const PG_SEED = `
  INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at)
  SELECT h.id, 'storage/' || $1 || '/' || h.folder || '/' || h.id || '_file-' || i || '.bin', $1, h.folder,
         'file-' || i || '.bin', 1024 + i % 4096, 'application/octet-stream', encode(sha256(convert_to(h.id, 'UTF8')), 'hex'),
         to_char(to_timestamp(($2::bigint + i * 1000) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FROM generate_series(0, $3::int - 1) AS i,
       LATERAL (SELECT md5(random()::text || i::text) AS id, 'p' || i % 10 || '/s' || (i / 10) % 10 AS folder) AS h`;
const PG_USAGE = `
  INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes) VALUES ($1, $2, $3, 0)
  ON CONFLICT (user_id) DO UPDATE SET file_count = user_usage.file_count + excluded.file_count, used_bytes = user_usage.used_bytes + excluded.used_bytes`;

async function seedPostgres(pgc, dbName, count, base) {
  await pgc.query('BEGIN', [], dbName);
  try {
    await pgc.query(PG_SEED, [USER, base, count], dbName);
    await pgc.query(PG_USAGE, [USER, count, totalBytes(count)], dbName);
    await pgc.query('COMMIT', [], dbName);
  } catch (err) {
    await pgc.query('ROLLBACK', [], dbName).catch(() => undefined);
    throw err;
  }
  await pgc.query('VACUUM ANALYZE files', [], dbName);
}

/**
 * Seeds `count` rows for one engine, starts its server and checks the four listings once;
 * returns { seedSeconds, pageNo, queries, list, server }.
 */
async function prepareEngine(ctx, engine, count) {
  const root = path.join(ctx.work, `listing-${engine}-root`);
  const { env, db } = await ctx.database(engine, 'listing');
  let server = await startServer(ctx, { caseName: name, name: `listing-${engine}-schema`, root, env });
  await server.stop();
  const base = Date.now() - count * 1000;
  const t0 = process.hrtime.bigint();
  if (engine === 'sqlite') seedSqlite(path.join(root, 'metadata.sqlite'), count, base);
  else await seedPostgres(await ctx.postgres(), db.name, count, base);
  const seedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  ctx.log(`  ${LABEL[engine]}: seeded ${count} rows in ${seedSeconds.toFixed(2)} s`);
  server = await startServer(ctx, { caseName: name, name: `listing-${engine}`, root, env });
  const token = await server.token(USER);
  const headers = { authorization: `Bearer ${token}` };
  const list = async (query) => {
    const res = await request('GET', `${server.url}/v1/files/all?${new URLSearchParams(query)}`, { headers });
    if (res.status !== 200) throw new Error(`${engine}: GET /v1/files/all?${new URLSearchParams(query)} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
    return res;
  };
  // The cursor of page N, walked once (untimed).
  const pageNo = Math.min(50, Math.ceil(count / PAGE));
  let cursor = null;
  for (let p = 1; p < pageNo; p++) {
    const body = (await list({ limit: PAGE, ...(cursor ? { cursor } : {}) })).json();
    if (body.files.length !== PAGE || !body.next_cursor) throw new Error(`${engine}: page ${p} had ${body.files.length} files, cursor ${body.next_cursor}`);
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
    if (!check[id](b)) throw new Error(`${engine} ${id}: unexpected answer: ${b.files.length} files, total_count ${b.total_count}`);
  }
  for (let i = 0; i < 20; i++) for (const q of Object.values(queries)) await list(q); // warm-up
  return { seedSeconds, pageNo, queries, list, server, ms: Object.fromEntries(Object.keys(queries).map((k) => [k, []])), bytes: {} };
}

export async function run(ctx) {
  const count = ctx.sizes.listingFiles;
  const samples = ctx.quick ? 100 : 200;
  const results = {};
  try {
    for (const engine of ctx.engines) results[engine] = await prepareEngine(ctx, engine, count);
    // Both servers up, requests alternating between the engines: drift on the machine hits both.
    for (let i = 0; i < samples; i++) {
      for (const r of Object.values(results)) {
        for (const [id, q] of Object.entries(r.queries)) {
          const res = await r.list(q);
          r.ms[id].push(res.ms);
          r.bytes[id] = res.body.length;
        }
      }
    }
  } finally {
    for (const r of Object.values(results)) await r.server.stop();
  }
  const fmt = count.toLocaleString('en-US');
  const rows = [];
  const ref = results.sqlite;
  for (const engine of ctx.engines) {
    const { seedSeconds, ms, bytes, pageNo } = results[engine];
    const labels = {
      first: `${fmt} files, first page of ${PAGE}`,
      top: `${fmt} files, folder=p3 (${(count / 10).toLocaleString('en-US')} below it), first page`,
      leaf: `${fmt} files, folder=p3/s7 (${(count / 100).toLocaleString('en-US')} files), first page`,
      nth: `${fmt} files, page ${pageNo} by cursor`,
    };
    rows.push(info(name, `${LABEL[engine]}: seed ${fmt} rows (one transaction)`, seedSeconds * 1000, 'ms'));
    for (const id of Object.keys(labels)) {
      const detail = `p99 ${percentile(ms[id], 99).toFixed(1)} ms; ${samples} sequential requests; ${Math.round(bytes[id] / 1024)} KiB JSON`;
      const p50 = median(ms[id]);
      rows.push(
        engine === 'sqlite'
          ? limitRow(name, `${LABEL[engine]}, ${labels[id]}: p50`, p50, 'ms', 20, { detail })
          : limitRatioRow(name, `${LABEL[engine]}, ${labels[id]}: p50`, p50, 'ms', 'SQLite', median(ref.ms[id]), 20, {
              detail: `${detail}; p99 ${(percentile(ms[id], 99) / percentile(ref.ms[id], 99)).toFixed(2)}× SQLite's`,
            }),
      );
    }
  }
  return rows;
}
