// 4. Small authenticated GETs (Bearer token, PUBLIC_STORAGE=false): the metadata of a file and
//    `/storage` of a 4 KiB file; beside a minimal Fastify server reading that file per request
//    (refs/fastify-read-server.mjs: open + read + close, no auth, logger off; target ≥ 0.7×,
//    issue 18), @fastify/static (defaults) and nginx serving that file.
//    Load: wrk -t2 -c64 (autocannon when wrk is missing), each target `reps` times, interleaved.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from '../lib/http.mjs';
import { KiB, load, median, makeFile } from '../lib/measure.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { encodeKey, startRef, startServer } from '../lib/server.mjs';

export const name = 'small-gets';

export async function run(ctx) {
  const reps = ctx.reps(3);
  const seconds = ctx.sizes.loadSeconds;
  const stoppers = [];
  try {
    const ours = await startServer(ctx, { caseName: name, name: 'small-gets', env: { PUBLIC_STORAGE: 'false' } });
    stoppers.push(ours);
    const token = await ours.token('bench-small');
    const src = path.join(ctx.work, 'small-4k.txt');
    makeFile(src, 4 * KiB);
    const { record } = await ours.uploadSingle(token, src, { name: 'small.bin' });
    const minimal = await startRef(ctx, 'fastify-read-server.mjs', { caseName: name, name: 'small-fastify', env: { ROOT: ours.root } });
    stoppers.push(minimal);
    const stat = await startRef(ctx, 'static-server.mjs', { caseName: name, name: 'small-static', env: { ROOT: ours.root } });
    stoppers.push(stat);
    const nginx = await startNginx(ctx, { name: 'nginx-small', root: ours.root });
    stoppers.push(nginx);

    const auth = { Authorization: `Bearer ${token}` };
    const keyPath = `/${encodeKey(record.key)}`;
    const targets = {
      metadata: { url: `${ours.url}/v1/files/metadata/${encodeKey(record.key)}`, headers: auth },
      storage: { url: `${ours.url}${keyPath}`, headers: auth },
      fastify: { url: `${minimal.url}${keyPath}`, headers: {} },
      static: { url: `${stat.url}${keyPath}`, headers: {} },
      nginx: { url: `${nginx.directUrl}${keyPath}`, headers: {} },
    };
    for (const [id, t] of Object.entries(targets)) {
      const res = await request('GET', t.url, { headers: t.headers });
      if (res.status !== 200) throw new Error(`${id}: GET ${t.url} → ${res.status}`);
      const anon = id === 'fastify' || id === 'static' || id === 'nginx' ? null : await request('GET', t.url);
      if (anon && anon.status !== 401) throw new Error(`${id}: expected 401 without a token, got ${anon.status}`);
    }
    const results = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      for (const [id, t] of Object.entries(targets)) {
        const r = await load(t.url, { headers: t.headers, seconds });
        results[id].push(r);
      }
      ctx.log(`  small GETs rep ${rep + 1}/${reps}: ${Object.entries(results).map(([k, v]) => `${k} ${v.at(-1).rps.toFixed(0)} req/s p99 ${v.at(-1).p99.toFixed(1)} ms`).join('; ')}`);
    }
    const m = Object.fromEntries(
      Object.entries(results).map(([k, v]) => [k, { rps: median(v.map((x) => x.rps)), p99: median(v.map((x) => x.p99)), errors: v.reduce((n, x) => n + x.errors, 0), tool: v[0].tool }]),
    );
    const detail = (k) => ({ detail: `p99 ${m[k].p99.toFixed(1)} ms; errors ${m[k].errors}; ${m[k].tool} -c64, ${seconds} s × ${reps}` });
    writeFileSync(path.join(ctx.work, 'small-gets.json'), JSON.stringify(results));
    return [
      info(name, 'nginx, 4 KiB file', m.nginx.rps, 'req/s', detail('nginx')),
      info(name, 'minimal Fastify, fs open+read+close, 4 KiB file', m.fastify.rps, 'req/s', detail('fastify')),
      info(name, '@fastify/static defaults, 4 KiB file', m.static.rps, 'req/s', detail('static')),
      ratioRow(name, 'GET /v1/files/metadata/{key}, Bearer', m.metadata.rps, 'req/s', '@fastify/static', m.static.rps, undefined, { ...detail('metadata'), runs: [results.metadata.map((x) => x.rps), results.static.map((x) => x.rps)] }),
      ratioRow(name, 'GET /storage/… 4 KiB, Bearer', m.storage.rps, 'req/s', '@fastify/static', m.static.rps, undefined, { ...detail('storage'), runs: [results.storage.map((x) => x.rps), results.static.map((x) => x.rps)] }),
      ratioRow(name, 'GET /v1/files/metadata/{key}, Bearer', m.metadata.rps, 'req/s', 'minimal Fastify', m.fastify.rps, 0.7, { ...detail('metadata'), runs: [results.metadata.map((x) => x.rps), results.fastify.map((x) => x.rps)] }),
      ratioRow(name, 'GET /storage/… 4 KiB, Bearer', m.storage.rps, 'req/s', 'minimal Fastify', m.fastify.rps, 0.7, { ...detail('storage'), runs: [results.storage.map((x) => x.rps), results.fastify.map((x) => x.rps)] }),
    ];
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
  }
}
