// 8. The guard's cost on one route: GET /storage/… of a 4 KiB file from a server with
//    PUBLIC_STORAGE=true (no credentials) against a server with PUBLIC_STORAGE=false and a
//    Bearer token (and, for information, the service token). Same root, same file; the two
//    servers run one at a time under wrk -t2 -c64, interleaved, `reps` times each.
import path from 'node:path';
import { request } from '../lib/http.mjs';
import { KiB, load, makeFile, median } from '../lib/measure.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { encodeKey, startServer } from '../lib/server.mjs';

export const name = 'guard';

export async function run(ctx) {
  const reps = ctx.reps(5);
  const seconds = ctx.sizes.loadSeconds;
  const root = path.join(ctx.work, 'guard-root');
  const stoppers = [];
  try {
    const pub = await startServer(ctx, { caseName: name, name: 'guard-public', root, env: { PUBLIC_STORAGE: 'true' } });
    stoppers.push(pub);
    const priv = await startServer(ctx, { caseName: name, name: 'guard-private', root, env: { PUBLIC_STORAGE: 'false' } });
    stoppers.push(priv);
    // Each server's issuer is its own PUBLIC_BASE_URL: the Bearer token comes from the one that checks it.
    const token = await priv.token('bench-guard');
    const src = path.join(ctx.work, 'guard-4k.bin');
    makeFile(src, 4 * KiB);
    const { record } = await priv.uploadSingle(token, src, { name: 'small.bin' });
    const keyPath = `/${encodeKey(record.key)}`;
    const targets = {
      public: { url: `${pub.url}${keyPath}`, headers: {} },
      bearer: { url: `${priv.url}${keyPath}`, headers: { Authorization: `Bearer ${token}` } },
      service: { url: `${priv.url}${keyPath}`, headers: { 'X-Service-Token': ctx.secrets.serviceToken } },
    };
    for (const [id, t] of Object.entries(targets)) {
      const res = await request('GET', t.url, { headers: t.headers });
      if (res.status !== 200) throw new Error(`${id}: GET ${t.url} → ${res.status}`);
    }
    const anon = await request('GET', targets.bearer.url);
    if (anon.status !== 401) throw new Error(`private server without a token answered ${anon.status}`);

    const results = { public: [], bearer: [], service: [] };
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      for (const [id, t] of Object.entries(targets)) results[id].push(await load(t.url, { headers: t.headers, seconds }));
      ctx.log(`  guard rep ${rep + 1}/${reps}: ${Object.entries(results).map(([k, v]) => `${k} ${v.at(-1).rps.toFixed(0)} req/s`).join(', ')}`);
    }
    const m = Object.fromEntries(
      Object.entries(results).map(([k, v]) => [k, { rps: median(v.map((x) => x.rps)), p99: median(v.map((x) => x.p99)), errors: v.reduce((n, x) => n + x.errors, 0), runs: v.map((x) => x.rps.toFixed(0)).join(', ') }]),
    );
    const detail = (k) => ({ detail: `p99 ${m[k].p99.toFixed(1)} ms; errors ${m[k].errors}; runs ${m[k].runs}` });
    return [
      info(name, 'GET /storage/… 4 KiB, PUBLIC_STORAGE=true, no credentials', m.public.rps, 'req/s', detail('public')),
      ratioRow(name, 'same, PUBLIC_STORAGE=false + Bearer JWT', m.bearer.rps, 'req/s', 'unauthenticated', m.public.rps, 0.95, {
        runs: [results.bearer.map((x) => x.rps), results.public.map((x) => x.rps)],
        ...detail('bearer'),
        target: '≥ 0.95× (guard < 5%)',
      }),
      ratioRow(name, 'same, PUBLIC_STORAGE=false + X-Service-Token', m.service.rps, 'req/s', 'unauthenticated', m.public.rps, undefined, { ...detail('service'), runs: [results.service.map((x) => x.rps), results.public.map((x) => x.rps)] }),
    ];
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
  }
}
