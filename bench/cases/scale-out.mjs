// 10. Two instances on one PostgreSQL: a prediction from measured per-upload costs, checked by a
//     load run (docs/scaling.md builds its capacity model on these figures).
//
//     Calibration: one client uploads 4 KiB files one after another (init + part + complete)
//     on instance A alone; per upload we read the CPU seconds of the server process, of
//     PostgreSQL (the postmaster and its backends, /proc) and of the bench itself, the
//     server-side execution time of every statement (pg_stat_statements), the time each
//     statement held its connection (lib/db-probe.mjs, call to answer) and the wall time.
//     Prediction for N closed-loop clients on two instances (pool DATABASE_POOL_MAX each):
//       X = min( N / R0,                    no queueing: each client waits R0 per upload
//                cores / (c_node + c_pg + c_bench),   every process shares this machine's cores
//                2 × pool / h_db )          connections: each upload holds one for h_db
//     Load runs: N clients, each upload's init and complete on one instance and its part on the
//     other (any request may reach any instance), for `loadSeconds`; measured uploads/s beside
//     the prediction, once with every client as one user (all inits and completes queue on that
//     user's ledger row lock) and once with a user per client. Afterwards the servers stop (their backends flush the table statistics)
//     and pg_stat_user_tables gives the rows inserted, updated and deleted per upload, by table.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { request } from '../lib/http.mjs';
import { cpuBusy, machineBusySeconds, median, percentile, treeCpuSeconds } from '../lib/measure.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'scale-out';

const POOL = 10;
const SIZE = 4096;

async function upload(agent, auth, [a, b], body, tag) {
  const init = await request('POST', `${a.url}/v1/files/init`, {
    headers: auth,
    useAgent: agent,
    body: { mode: 'single', files: [{ name: `s-${tag}.bin`, size: body.length, mime: 'application/octet-stream' }] },
  });
  if (init.status !== 201) throw new Error(`init → ${init.status} ${init.body.toString().slice(0, 200)}`);
  const id = init.json().uploadId;
  const part = await request('PUT', `${b.url}/v1/files/part?uploadId=${id}&partNumber=1`, {
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    useAgent: agent,
    body,
  });
  if (part.status !== 200) throw new Error(`part → ${part.status} ${part.body.toString().slice(0, 200)}`);
  const done = await request('POST', `${a.url}/v1/files/complete`, { headers: auth, useAgent: agent, body: { uploadId: id } });
  if (done.status !== 201) throw new Error(`complete → ${done.status} ${done.body.toString().slice(0, 200)}`);
}

/** CPU seconds of each party, and the statements' server time, around `fn`. */
async function costs(pgc, dbName, servers, fn) {
  const pm = pgc.postmasterPid();
  await pgc.resetStatements();
  const before = { node: servers.map((s) => s.cpuSeconds()), pg: treeCpuSeconds(pm), bench: process.cpuUsage(), machine: machineBusySeconds() };
  const t0 = process.hrtime.bigint();
  const count = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const benchCpu = process.cpuUsage(before.bench);
  const machine = machineBusySeconds() - before.machine;
  const stmts = await pgc.statements(dbName);
  const node = servers.reduce((n, s, i) => n + s.cpuSeconds() - before.node[i], 0);
  const pgCpu = treeCpuSeconds(pm) - before.pg;
  const bench = (benchCpu.user + benchCpu.system) / 1e6;
  return {
    count,
    seconds,
    node: node / count,
    pg: pgCpu / count,
    bench: bench / count,
    // Cores the measured parties used on average, and what every other process used meanwhile.
    oursCores: (node + pgCpu + bench) / seconds,
    othersCores: Math.max(0, machine - node - pgCpu - bench) / seconds,
    dbExecMs: stmts.reduce((n, s) => n + s.total_ms, 0) / count,
    statements: stmts.reduce((n, s) => n + s.calls, 0) / count,
    hottestAll: stmts.map((s) => ({ sql: s.query.replace(/\s+/g, ' '), calls: s.calls, meanMs: +s.mean_ms.toFixed(4), totalMs: +s.total_ms.toFixed(1) })),
  };
}

const TABLE_STATS = `SELECT relname AS table, n_tup_ins::float8 AS ins, n_tup_upd::float8 AS upd, n_tup_hot_upd::float8 AS hot, n_tup_del::float8 AS del
                     FROM pg_stat_user_tables ORDER BY relname`;

export async function run(ctx) {
  const pgc = await ctx.postgres();
  const { env, db } = await ctx.database('postgres', 'scaleout');
  const clients = ctx.quick ? 16 : 32;
  const calibrationUploads = ctx.quick ? 60 : 200;
  const seconds = ctx.sizes.loadSeconds;
  const servers = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 * clients });
  try {
    // Both instances share the database, the root and the issuer (PUBLIC_BASE_URL), as a deployment does.
    const first = await startServer(ctx, { caseName: name, name: 'scale-a', env: { ...env, DATABASE_POOL_MAX: String(POOL) }, probe: true });
    servers.push(first);
    const shared = { ...env, DATABASE_POOL_MAX: String(POOL), PUBLIC_BASE_URL: first.url };
    servers.push(await startServer(ctx, { caseName: name, name: 'scale-b', root: first.root, env: shared }));
    const [a, b] = servers;
    const auth = { authorization: `Bearer ${await a.token('bench-scale')}` };
    const body = randomBytes(SIZE);
    for (let i = 0; i < 20; i++) await upload(agent, auth, [a, b], body, `warm-${i}`); // both instances, every route, warm

    // 1. Calibration: one client, sequential, instance A only.
    await ctx.beforeRep();
    await a.dbReset();
    const seq = await costs(pgc, db.name, [a], async () => {
      for (let i = 0; i < calibrationUploads; i++) await upload(agent, auth, [a, a], body, `cal-${i}`);
      return calibrationUploads;
    });
    const r0 = (seq.seconds / seq.count) * 1000; // ms per upload, one client
    // How long an upload holds a pooled connection: the time from sending each statement to its
    // answer, summed (lib/db-probe.mjs in instance A).
    const probed = (await a.dbStats()).statements;
    const holdMs = probed.reduce((n, x) => n + x.ms, 0) / seq.count;
    const others = await cpuBusy(1000);
    const cores = os.cpus().length;
    const cpuPerUpload = seq.node + seq.pg + seq.bench;
    const xLatency = (clients / r0) * 1000;
    const xCpu = cores / cpuPerUpload;
    const xPool = ((2 * POOL) / holdMs) * 1000;
    const predicted = Math.min(xLatency, xCpu, xPool);
    const limit = predicted === xCpu ? 'CPU' : predicted === xPool ? 'connections' : 'client latency';
    ctx.log(
      `  calibration: ${r0.toFixed(2)} ms per upload; CPU per upload: server ${(seq.node * 1000).toFixed(2)} ms, PostgreSQL ${(seq.pg * 1000).toFixed(2)} ms, bench ${(seq.bench * 1000).toFixed(2)} ms; ` +
        `${seq.statements.toFixed(1)} statements, ${seq.dbExecMs.toFixed(2)} ms executing; predicted ${predicted.toFixed(0)} uploads/s (${limit}; CPU ${xCpu.toFixed(0)}, connections ${xPool.toFixed(0)}, latency ${xLatency.toFixed(0)})`,
    );

    // 2. Load: N clients over both instances for `seconds`; once all as one user (every init and
    //    complete takes that user's ledger row lock), once with a user per client.
    const perClient = [];
    for (let c = 0; c < clients; c++) perClient.push({ authorization: `Bearer ${await a.token(`bench-scale-${c}`)}` });
    const loadRun = async (auths) => {
      await ctx.beforeRep();
      const errors = [];
      const latencies = [];
      const res = await costs(pgc, db.name, servers, async () => {
        const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
        let done = 0;
        await Promise.all(
          Array.from({ length: clients }, async (_, c) => {
            const pair = c % 2 ? [b, a] : [a, b];
            for (let i = 0; process.hrtime.bigint() < deadline; i++) {
              const t0 = process.hrtime.bigint();
              try {
                await upload(agent, auths(c), pair, body, `load-${c}-${i}-${randomBytes(3).toString('hex')}`);
                done++;
                latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
              } catch (err) {
                errors.push(err.message);
              }
            }
          }),
        );
        return done;
      });
      const lockWait = res.hottestAll.find((x) => /FROM user_usage WHERE user_id = \$1 FOR UPDATE/.test(x.sql));
      return { ...res, errors, latencies, measured: res.count / res.seconds, ledgerLockMs: lockWait?.meanMs ?? NaN };
    };
    const oneUser = await loadRun(() => auth);
    const manyUsers = await loadRun((c) => perClient[c]);
    const othersAfter = await cpuBusy(1000);

    // 3. Rows per upload, by table: stop the servers so their backends exit and flush the statistics.
    for (const s of servers) await s.stop();
    const files = Number((await pgc.query('SELECT count(*) AS n FROM files', [], db.name)).rows[0].n);
    let tables = [];
    for (let i = 0; i < 50; i++) {
      tables = (await pgc.query(TABLE_STATS, [], db.name)).rows;
      if ((tables.find((t) => t.table === 'files')?.ins ?? 0) >= files) break;
      await new Promise((r) => setTimeout(r, 200)); // the last backends' exit reaches the statistics shortly after
    }
    const rowsPerUpload = Object.fromEntries(
      tables.filter((t) => (t.ins + t.upd + t.del) / files >= 0.005).map((t) => [t.table, { ins: +(t.ins / files).toFixed(2), upd: +(t.upd / files).toFixed(2), hot: +(t.hot / files).toFixed(2), del: +(t.del / files).toFixed(2) }]),
    );
    const written = Object.values(rowsPerUpload).reduce((n, t) => n + t.ins + t.upd + t.del, 0);

    const brief = ({ errors, latencies, hottestAll, ...r }) => ({
      ...r,
      errors: errors.length,
      p50: median(latencies),
      p99: percentile(latencies, 99),
      hottest: hottestAll.slice(0, 8).map((x) => ({ ...x, sql: x.sql.slice(0, 200) })),
    });
    ctx.keep?.(name, {
      clients,
      pool: POOL,
      cores,
      othersBefore: others,
      othersAfter,
      calibration: brief({ ...seq, errors: [], latencies: [] }),
      oneUser: brief(oneUser),
      manyUsers: brief(manyUsers),
      predicted: { xLatency, xCpu, xPool, holdMs },
      rowsPerUpload,
      files,
    });
    const ms = (x) => `${(x * 1000).toFixed(2)} ms`;
    const measuredRow = (label, load) => {
      const kinds = [...new Set(load.errors)].slice(0, 3).join(' | ');
      return ratioRow(name, `measured uploads/s, ${clients} clients on two instances, ${label}`, load.measured, 'uploads/s', 'predicted', predicted, undefined, {
        detail:
          `${load.count} uploads in ${load.seconds.toFixed(1)} s, errors ${load.errors.length}${kinds ? ` (${kinds})` : ''}; per upload p50 ${median(load.latencies).toFixed(1)} ms, p99 ${percentile(load.latencies, 99).toFixed(1)} ms; ` +
          `the ledger row lock (SELECT … FOR UPDATE) took ${load.ledgerLockMs.toFixed(2)} ms on average; CPU per upload: servers ${ms(load.node)}, PostgreSQL ${ms(load.pg)}, bench ${ms(load.bench)}; ` +
          `these used ${load.oursCores.toFixed(2)} cores and other processes ${load.othersCores.toFixed(2)} (the CPU model with the ${(cores - load.othersCores).toFixed(2)} cores they left: ${((cores - load.othersCores) / cpuPerUpload).toFixed(0)}/s)`,
      });
    };
    return [
      info(name, 'one client, one instance: upload (init + part + complete, 4 KiB)', r0, 'ms', {
        detail: `${calibrationUploads} in a row; CPU per upload: server ${ms(seq.node)}, PostgreSQL ${ms(seq.pg)}, bench client ${ms(seq.bench)}; ${seq.statements.toFixed(1)} statements, ${seq.dbExecMs.toFixed(2)} ms executing in PostgreSQL`,
      }),
      info(name, `predicted uploads/s, ${clients} clients on two instances`, predicted, 'uploads/s', {
        detail: `limit: ${limit}. CPU: ${cores} cores / ${ms(cpuPerUpload)} = ${xCpu.toFixed(0)}/s (other processes used ${(others * 100).toFixed(0)}% before); connections: 2 × ${POOL} / ${holdMs.toFixed(2)} ms = ${xPool.toFixed(0)}/s; latency: ${clients} / ${r0.toFixed(2)} ms = ${xLatency.toFixed(0)}/s`,
      }),
      measuredRow('one user', oneUser),
      measuredRow('a user per client', manyUsers),
      info(name, 'rows written per upload (pg_stat_user_tables)', written, 'rows', {
        detail: Object.entries(rowsPerUpload)
          .map(([t, r]) => `${t}: +${r.ins} ~${r.upd} -${r.del}`)
          .join('; '),
      }),
    ];
  } finally {
    agent.destroy();
    for (const s of servers) await s.stop();
  }
}
