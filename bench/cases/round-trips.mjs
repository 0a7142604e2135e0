// 9. What one request asks of the database, on each engine: every statement the server process
//    sends is counted by lib/db-probe.mjs (preloaded into it; on PostgreSQL each statement,
//    BEGIN and COMMIT included, is one round trip), with the rows it wrote (the driver's row
//    counts), the rows it locked (SELECT … FOR UPDATE) and the time from call to answer.
//    Each operation is repeated `n` times in a row on a quiet server, the counters reset before
//    and read after, so a figure is (what the process sent) / n. Operations: login, refresh,
//    an authenticated GET of a file's metadata and of /storage (4 KiB, the guard's route), a
//    signed /get, a listing page, and an upload as init, part and complete (4 KiB, one part),
//    and as the one-request POST /v1/files. On PostgreSQL, pg_stat_statements gives the
//    server-side execution time of each statement over the whole case (the hottest ones are
//    rows of the table, all of them in latest.json under extra.round-trips).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { call, request } from '../lib/http.mjs';
import { KiB, makeFile, median } from '../lib/measure.mjs';
import { info } from '../lib/report.mjs';
import { encodeKey, startServer } from '../lib/server.mjs';

export const name = 'round-trips';

const LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

function multipart(filename, content) {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, content, tail]), type: `multipart/form-data; boundary=${boundary}` };
}

const expect = async (what, promise, status) => {
  const res = await promise;
  if (res.status !== status) throw new Error(`${what} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
  return res;
};

/** The operations, each a function of the repetition index; `prepare` runs untimed before each phase. */
function operations(server, user, body) {
  const url = server.url;
  const auth = { authorization: `Bearer ${user.access}` };
  const ids = [];
  const uploadBody = (id) => ({ mode: 'single', files: [{ name: `rt-${id}.bin`, size: body.length, mime: 'application/octet-stream' }] });
  let refresh = user.refresh;
  return {
    login: () => expect('login', request('POST', `${url}/auth/login`, { body: { username: user.username, password: PASSWORD } }), 200),
    refresh: async () => {
      const res = await expect('refresh', request('POST', `${url}/auth/refresh`, { body: { refresh_token: refresh } }), 200);
      refresh = res.json().refresh_token;
      return res;
    },
    'GET metadata (Bearer)': () => expect('metadata', request('GET', `${url}/v1/files/metadata/${encodeKey(user.key)}`, { headers: auth }), 200),
    'GET /storage 4 KiB (Bearer)': () => expect('storage', request('GET', `${url}/${encodeKey(user.key)}`, { headers: auth }), 200),
    'GET /get 4 KiB (signed URL)': () => expect('get', request('GET', user.signed), 200),
    'GET /v1/files/all?limit=100': () => expect('list', request('GET', `${url}/v1/files/all?limit=100`, { headers: auth }), 200),
    'upload: init (1 file)': async (i) => {
      const res = await expect('init', request('POST', `${url}/v1/files/init`, { headers: auth, body: uploadBody(i) }), 201);
      ids[i] = res.json().uploadId;
      return res;
    },
    'upload: part (4 KiB)': (i) =>
      expect('part', request('PUT', `${url}/v1/files/part?uploadId=${ids[i]}&partNumber=1`, { headers: { ...auth, 'content-type': 'application/octet-stream' }, body }), 200),
    'upload: complete': (i) => expect('complete', request('POST', `${url}/v1/files/complete`, { headers: auth, body: { uploadId: ids[i] } }), 201),
    'upload: one request (POST /v1/files)': (i) => {
      const form = multipart(`one-${i}.bin`, body);
      return expect('one-request upload', request('POST', `${url}/v1/files`, { headers: { ...auth, 'content-type': form.type }, body: form.body }), 201);
    },
  };
}

/** Sums the probe's counters over statements; `per` divides. */
function summarize(stats, per) {
  const s = stats.statements;
  const sum = (k) => s.reduce((n, x) => n + x[k], 0);
  const statements = s
    .map((x) => ({
      sql: x.sql.slice(0, 240),
      perOp: +(x.calls / per).toFixed(2),
      msPerCall: +(x.ms / x.calls).toFixed(3),
      written: +(x.written / per).toFixed(2),
      locked: +(x.locked / per).toFixed(2),
      hiddenWrites: +((x.hiddenWrites ?? 0) / per).toFixed(2),
    }))
    .sort((a, b) => b.perOp - a.perOp);
  return {
    statements: sum('calls') / per,
    transactions: stats.transactions / per || s.filter((x) => /^BEGIN\b/i.test(x.sql)).reduce((n, x) => n + x.calls, 0) / per,
    written: sum('written') / per,
    locked: sum('locked') / per,
    hiddenWrites: s.reduce((n, x) => n + (x.hiddenWrites ?? 0), 0) / per,
    dbMs: sum('ms') / per,
    errors: sum('errors'),
    breakdown: statements,
  };
}

async function measureEngine(ctx, engine, n, body) {
  const { env, db } = await ctx.database(engine, 'roundtrips');
  // PUBLIC_STORAGE=false: /storage then asks the guard, as in the guard case.
  const server = await startServer(ctx, { caseName: name, name: `round-trips-${engine}`, env: { ...env, PUBLIC_STORAGE: 'false' }, probe: true });
  try {
    const svc = { 'x-service-token': ctx.secrets.serviceToken };
    const username = `rt-${engine}`;
    await call('POST', `${server.url}/v1/admin/users`, { headers: svc, body: { username, password: PASSWORD, role: 'operator' } });
    const login = await call('POST', `${server.url}/auth/login`, { body: { username, password: PASSWORD } });
    const src = path.join(ctx.work, `rt-${engine}.bin`);
    makeFile(src, body.length);
    const { record } = await server.uploadSingle(login.access_token, src, { name: 'rt.bin' });
    const user = { username, access: login.access_token, refresh: login.refresh_token, key: record.key };
    user.signed = await server.signedUrl(user.access, record.key);
    const ops = operations(server, user, body);
    // Warm every path once (JIT, statement caches, the verifier's claims cache) before counting.
    await ops.login();
    await ops['GET metadata (Bearer)']();
    await ops['GET /storage 4 KiB (Bearer)']();
    await ops['GET /get 4 KiB (signed URL)']();
    await ops['GET /v1/files/all?limit=100']();
    const pgc = engine === 'postgres' ? await ctx.postgres() : null;
    await pgc?.resetStatements();
    const out = {};
    for (const [op, fn] of Object.entries(ops)) {
      const reps = op === 'login' ? Math.max(5, Math.round(n / 5)) : n; // a login costs an scrypt hash (~0.1 s)
      await ctx.beforeRep();
      await server.dbReset();
      const ms = [];
      for (let i = 0; i < reps; i++) ms.push((await fn(i)).ms);
      out[op] = { ...summarize(await server.dbStats(), reps), httpP50: median(ms), reps };
      ctx.log(`  ${LABEL[engine]} ${op}: ${out[op].statements.toFixed(2)} statements, ${out[op].written.toFixed(2)} rows written, ${out[op].dbMs.toFixed(2)} ms in the database per request`);
    }
    const serverSide = pgc ? (await pgc.statements(db.name)).map((r) => ({ sql: r.query.replace(/\s+/g, ' ').slice(0, 240), calls: r.calls, rows: r.rows, totalMs: +r.total_ms.toFixed(2), meanMs: +r.mean_ms.toFixed(4), walRecords: r.wal_records })) : null;
    return { ops: out, serverSide };
  } finally {
    await server.stop();
  }
}

const short = (sql) => (sql.length > 90 ? `${sql.slice(0, 87)}…` : sql);

export async function run(ctx) {
  const n = ctx.quick ? 30 : 100;
  const body = randomBytes(4 * KiB);
  const results = {};
  for (const engine of ctx.engines) results[engine] = await measureEngine(ctx, engine, n, body);
  ctx.keep?.(name, results);
  const rows = [];
  const ref = results.sqlite?.ops;
  for (const engine of ctx.engines) {
    for (const [op, r] of Object.entries(results[engine].ops)) {
      const hidden = r.hiddenWrites ? ` (+ ${r.hiddenWrites.toFixed(2)} statements writing through a CTE, rows not reported)` : '';
      const detail = `${r.transactions.toFixed(2)} transactions, ${r.written.toFixed(2)} rows written${hidden}, ${r.locked.toFixed(2)} rows locked, ${r.dbMs.toFixed(2)} ms waiting on the database, request p50 ${r.httpP50.toFixed(2)} ms; ${r.reps} requests${r.errors ? `; ${r.errors} statement errors` : ''}`;
      const row = info(name, `${LABEL[engine]}: ${op}: statements per request`, r.statements, 'statements', { detail });
      if (engine !== 'sqlite' && ref?.[op]) Object.assign(row, { reference: 'SQLite', refValue: +ref[op].statements.toFixed(2), ratio: +(r.statements / ref[op].statements).toFixed(3) });
      rows.push(row);
    }
  }
  for (const s of results.postgres?.serverSide?.slice(0, 6) ?? []) {
    rows.push(info(name, `PostgreSQL server time: ${short(s.sql)}`, s.meanMs, 'ms', { detail: `mean execution time over ${s.calls} calls (total ${s.totalMs} ms; pg_stat_statements)` }));
  }
  return rows;
}
