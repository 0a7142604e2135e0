// 8. The guard's cost on one route, on each engine: GET /storage/… of a 4 KiB file from a server
//    with PUBLIC_STORAGE=true (no credentials) against a server with PUBLIC_STORAGE=false and a
//    Bearer token (and, on SQLite, for information, the service token). Per engine both servers
//    share one root and one database. All servers run one at a time under wrk -t2 -c64,
//    interleaved, `reps` times each; PostgreSQL's authenticated figure is also given as a ratio
//    to SQLite's of the same run (the guard checks the token's revocation and the user's state
//    in the database on every request: one statement, see the round-trips case).
import path from 'node:path';
import { request } from '../lib/http.mjs';
import { KiB, load, makeFile, median } from '../lib/measure.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { encodeKey, startServer } from '../lib/server.mjs';

export const name = 'guard';

const LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

/** The public and the private server of one engine, the file, and the load targets. */
async function startEngine(ctx, engine, stoppers) {
  const root = path.join(ctx.work, `guard-${engine}-root`);
  const { env } = await ctx.database(engine, 'guard');
  const pub = await startServer(ctx, { caseName: name, name: `guard-${engine}-public`, root, env: { ...env, PUBLIC_STORAGE: 'true' } });
  stoppers.push(pub);
  const priv = await startServer(ctx, { caseName: name, name: `guard-${engine}-private`, root, env: { ...env, PUBLIC_STORAGE: 'false' } });
  stoppers.push(priv);
  // Each server's issuer is its own PUBLIC_BASE_URL: the Bearer token comes from the one that checks it.
  const token = await priv.token('bench-guard');
  const src = path.join(ctx.work, 'guard-4k.bin');
  makeFile(src, 4 * KiB);
  const { record } = await priv.uploadSingle(token, src, { name: 'small.bin' });
  const keyPath = `/${encodeKey(record.key)}`;
  const targets = {
    [`${engine}:public`]: { url: `${pub.url}${keyPath}`, headers: {} },
    [`${engine}:bearer`]: { url: `${priv.url}${keyPath}`, headers: { Authorization: `Bearer ${token}` } },
    ...(engine === 'sqlite' ? { [`${engine}:service`]: { url: `${priv.url}${keyPath}`, headers: { 'X-Service-Token': ctx.secrets.serviceToken } } } : {}),
  };
  for (const [id, t] of Object.entries(targets)) {
    const res = await request('GET', t.url, { headers: t.headers });
    if (res.status !== 200) throw new Error(`${id}: GET ${t.url} → ${res.status}`);
  }
  const anon = await request('GET', targets[`${engine}:bearer`].url);
  if (anon.status !== 401) throw new Error(`${engine}: private server without a token answered ${anon.status}`);
  return targets;
}

export async function run(ctx) {
  const reps = ctx.reps(5);
  const seconds = ctx.sizes.loadSeconds;
  const stoppers = [];
  try {
    const targets = {};
    for (const engine of ctx.engines) Object.assign(targets, await startEngine(ctx, engine, stoppers));
    const results = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      for (const [id, t] of Object.entries(targets)) results[id].push(await load(t.url, { headers: t.headers, seconds }));
      ctx.log(`  guard rep ${rep + 1}/${reps}: ${Object.entries(results).map(([k, v]) => `${k} ${v.at(-1).rps.toFixed(0)} req/s`).join(', ')}`);
    }
    const m = Object.fromEntries(
      Object.entries(results).map(([k, v]) => [
        k,
        { rps: median(v.map((x) => x.rps)), p50: median(v.map((x) => x.p50)), p99: median(v.map((x) => x.p99)), errors: v.reduce((n, x) => n + x.errors, 0), runs: v.map((x) => x.rps.toFixed(0)).join(', ') },
      ]),
    );
    const detail = (k) => ({ detail: `p50 ${m[k].p50.toFixed(2)} ms, p99 ${m[k].p99.toFixed(1)} ms; errors ${m[k].errors}; runs ${m[k].runs}` });
    const rps = (k) => results[k].map((x) => x.rps);
    const rows = [];
    for (const engine of ctx.engines) {
      const L = LABEL[engine];
      rows.push(info(name, `${L}: GET /storage/… 4 KiB, PUBLIC_STORAGE=true, no credentials`, m[`${engine}:public`].rps, 'req/s', detail(`${engine}:public`)));
      rows.push(
        ratioRow(name, `${L}: same, PUBLIC_STORAGE=false + Bearer JWT`, m[`${engine}:bearer`].rps, 'req/s', 'unauthenticated', m[`${engine}:public`].rps, 0.95, {
          runs: [rps(`${engine}:bearer`), rps(`${engine}:public`)],
          ...detail(`${engine}:bearer`),
          target: '≥ 0.95× (guard < 5%)',
        }),
      );
      if (targets[`${engine}:service`]) {
        rows.push(
          ratioRow(name, `${L}: same, PUBLIC_STORAGE=false + X-Service-Token`, m[`${engine}:service`].rps, 'req/s', 'unauthenticated', m[`${engine}:public`].rps, undefined, {
            ...detail(`${engine}:service`),
            runs: [rps(`${engine}:service`), rps(`${engine}:public`)],
          }),
        );
      }
    }
    if (m['postgres:bearer'] && m['sqlite:bearer']) {
      rows.push(
        ratioRow(name, 'PostgreSQL: Bearer JWT GET beside SQLite', m['postgres:bearer'].rps, 'req/s', 'SQLite + Bearer', m['sqlite:bearer'].rps, undefined, {
          runs: [rps('postgres:bearer'), rps('sqlite:bearer')],
          detail: `p50 ${m['postgres:bearer'].p50.toFixed(2)} vs ${m['sqlite:bearer'].p50.toFixed(2)} ms, p99 ${m['postgres:bearer'].p99.toFixed(1)} vs ${m['sqlite:bearer'].p99.toFixed(1)} ms`,
        }),
      );
    }
    return rows;
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
  }
}
