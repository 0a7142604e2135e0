// Preloaded into a server process (`node --import <this file> dist/main.js`) when the bench
// wants to count what each request asks of the database. It wraps the two drivers' entry
// points, so every statement the process sends is seen exactly once, whoever sends it:
//   - pg: Client.prototype.query (the pool's queries and a transaction's BEGIN/COMMIT go
//     through it; each call is one round trip to the server), timed from call to answer;
//   - better-sqlite3: Statement run/get/all/iterate (in-process calls, no round trip), and
//     Database.transaction (each call of the returned function is one transaction).
// Rows written are the driver's own counts: pg's rowCount of INSERT/UPDATE/DELETE/MERGE (an
// upsert counts its row once; rows removed by ON DELETE CASCADE are not seen), SQLite's
// `changes` of a non-reader statement. A PostgreSQL SELECT over data-modifying CTEs (WITH x AS
// (INSERT …) SELECT …) reports only its SELECT's rows: such executions are counted apart
// (`hiddenWrites`). Rows locked: rowCount of a SELECT … FOR UPDATE/SHARE.
//
// The counts are served on 127.0.0.1:$BENCH_DB_PROBE_PORT: GET / (JSON), POST /reset.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

const require = createRequire(path.join(process.cwd(), 'package.json'));
const stats = new Map();
let transactions = 0;

const normalize = (sql) => sql.replace(/\s+/g, ' ').trim();

function record(sql, t0, { written = 0, locked = 0, hiddenWrites = 0, failed = false } = {}) {
  const key = normalize(sql);
  let s = stats.get(key);
  if (!s) stats.set(key, (s = { sql: key, calls: 0, ms: 0, written: 0, locked: 0, hiddenWrites: 0, errors: 0 }));
  s.calls++;
  s.hiddenWrites += hiddenWrites;
  s.ms += Number(process.hrtime.bigint() - t0) / 1e6;
  s.written += written;
  s.locked += locked;
  if (failed) s.errors++;
}

const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const LOCKING = /\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)\b/i;
const WRITING_CTE = /\bAS\s*(?:NOT\s+)?(?:MATERIALIZED\s*)?\(\s*(?:INSERT|UPDATE|DELETE)\b/i;

function pgCounts(sql, res) {
  const n = res?.rowCount ?? 0;
  if (WRITES.has(res?.command)) return { written: n };
  // A SELECT over data-modifying CTEs: the driver reports the SELECT's rows, not the writes.
  if (res?.command === 'SELECT' && WRITING_CTE.test(sql)) return { hiddenWrites: 1 };
  if (res?.command === 'SELECT' && LOCKING.test(sql)) return { locked: n };
  return {};
}

function wrapPg() {
  let pg;
  try {
    pg = require('pg');
  } catch {
    return;
  }
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function probedQuery(config, values, callback) {
    const sql = typeof config === 'string' ? config : config?.text;
    if (typeof sql !== 'string') return original.apply(this, arguments);
    const t0 = process.hrtime.bigint();
    const cb = typeof values === 'function' ? values : typeof callback === 'function' ? callback : null;
    if (cb) {
      const wrapped = (err, res) => {
        record(sql, t0, err ? { failed: true } : pgCounts(sql, res));
        cb(err, res);
      };
      return typeof values === 'function' ? original.call(this, config, wrapped) : original.call(this, config, values, wrapped);
    }
    const result = original.apply(this, arguments);
    result?.then?.(
      (res) => record(sql, t0, pgCounts(sql, res)),
      () => record(sql, t0, { failed: true }),
    );
    return result;
  };
}

function wrapSqlite() {
  let Database;
  try {
    Database = require('better-sqlite3');
  } catch {
    return;
  }
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = proto[method];
    proto[method] = function probedStatement(...args) {
      const t0 = process.hrtime.bigint();
      try {
        const out = original.apply(this, args);
        record(this.source, t0, { written: method === 'run' && !this.reader ? (out?.changes ?? 0) : 0 });
        return out;
      } catch (err) {
        record(this.source, t0, { failed: true });
        throw err;
      }
    };
  }
  const transaction = Database.prototype.transaction;
  Database.prototype.transaction = function probedTransaction(fn) {
    const tx = transaction.call(this, fn);
    // Every variant counts, and each carries the others as better-sqlite3's do (the server's
    // connection returns `super.transaction(fn).immediate`, whose .immediate is used again).
    const variants = { default: tx, deferred: tx.deferred, immediate: tx.immediate, exclusive: tx.exclusive };
    const counted = {};
    for (const [kind, run] of Object.entries(variants)) {
      counted[kind] = function countedTransaction(...args) {
        transactions++;
        return run.apply(this, args);
      };
    }
    for (const f of Object.values(counted)) Object.assign(f, { deferred: counted.deferred, immediate: counted.immediate, exclusive: counted.exclusive });
    return counted.default;
  };
}

// --import reaches worker threads too (the password-hash pool): only the main thread, which
// holds the database connections, counts and serves.
const port = isMainThread ? Number(process.env.BENCH_DB_PROBE_PORT) : 0;
if (port) {
  wrapPg();
  wrapSqlite();
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/reset') {
      stats.clear();
      transactions = 0;
      res.end('{}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ transactions, statements: [...stats.values()] }));
  });
  server.listen(port, '127.0.0.1');
  server.unref();
}
