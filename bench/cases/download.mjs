// 1. Download one big file (1 GiB; --quick 256 MiB), the same file on disk for everyone:
//    nginx (sendfile on), our /storage and /get, @fastify/static (defaults), and nginx in front
//    of our server with X-Accel-Redirect (ACCEL_REDIRECT_PREFIX=/_protected/).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { curlDownload, makeFile, mbps, median, sizeLabel, warm } from '../lib/measure.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { encodeKey, startRef, startServer } from '../lib/server.mjs';

export const name = 'download';

export async function run(ctx) {
  const size = ctx.sizes.big;
  const reps = ctx.reps(5);
  const stoppers = [];
  try {
    const src = path.join(ctx.work, 'download-src.bin');
    makeFile(src, size);
    const ours = await startServer(ctx, { caseName: name, name: 'download' });
    stoppers.push(ours);
    const token = await ours.token('bench-download');
    const { record } = await ours.uploadSingle(token, src, { name: 'big.bin' });
    rmSync(src, { force: true });
    const accel = await startServer(ctx, { caseName: name, name: 'download-accel', root: ours.root, env: { ACCEL_REDIRECT_PREFIX: '/_protected/' } });
    stoppers.push(accel);
    const nginx = await startNginx(ctx, { name: 'nginx-download', root: ours.root, upstream: `127.0.0.1:${accel.port}` });
    stoppers.push(nginx);
    const stat = await startRef(ctx, 'static-server.mjs', { caseName: name, name: 'download-static', env: { ROOT: ours.root } });
    stoppers.push(stat);

    const keyPath = `/${encodeKey(record.key)}`;
    const signed = new URL(await ours.signedUrl(token, record.key));
    const targets = {
      nginx: `${nginx.directUrl}${keyPath}`,
      storage: `${ours.url}${keyPath}`,
      get: signed.href,
      static: `${stat.url}${keyPath}`,
      accelStorage: `${nginx.accelUrl}${keyPath}`,
      accelGet: `${nginx.accelUrl}${signed.pathname}${signed.search}`,
    };
    await warm(path.join(ours.root, record.key));
    const speeds = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      for (const [id, url] of Object.entries(targets)) {
        // @fastify/static's 16 KiB reads make it ~10× slower: 3 runs of it are enough for a median.
        if (id === 'static' && rep >= 3) continue;
        const r = await curlDownload(url);
        if (r.status !== 200 || r.bytesDown !== size) throw new Error(`${id}: GET ${url} → ${r.status}, ${r.bytesDown} of ${size} bytes`);
        speeds[id].push(mbps(r.bytesDown, r.seconds));
      }
      ctx.log(`  download rep ${rep + 1}/${reps}: ${Object.entries(speeds).map(([k, v]) => `${k} ${v.at(-1)?.toFixed(0) ?? '-'}`).join(', ')} MB/s`);
    }
    const m = Object.fromEntries(Object.entries(speeds).map(([k, v]) => [k, median(v)]));
    const label = sizeLabel(size);
    const runs = (k) => ({ detail: `median of ${speeds[k].length}; runs: ${speeds[k].map((x) => x.toFixed(0)).join(', ')}` });
    const vs = (k, ref, extra = {}) => ({ ...extra, runs: [speeds[k], speeds[ref]] });
    return [
      info(name, `nginx sendfile, ${label}`, m.nginx, 'MB/s', runs('nginx')),
      info(name, `@fastify/static defaults, ${label}`, m.static, 'MB/s', runs('static')),
      ratioRow(name, `/storage, ${label}`, m.storage, 'MB/s', 'nginx', m.nginx, 0.9, vs('storage', 'nginx', runs('storage'))),
      ratioRow(name, `/storage, ${label}`, m.storage, 'MB/s', '@fastify/static', m.static, 5, vs('storage', 'static')),
      ratioRow(name, `/get (signed), ${label}`, m.get, 'MB/s', 'nginx', m.nginx, 0.9, vs('get', 'nginx', runs('get'))),
      ratioRow(name, `/get (signed), ${label}`, m.get, 'MB/s', '@fastify/static', m.static, 5, vs('get', 'static')),
      ratioRow(name, `nginx → /storage X-Accel-Redirect, ${label}`, m.accelStorage, 'MB/s', 'nginx', m.nginx, 0.95, vs('accelStorage', 'nginx', runs('accelStorage'))),
      ratioRow(name, `nginx → /get X-Accel-Redirect, ${label}`, m.accelGet, 'MB/s', 'nginx', m.nginx, 0.95, vs('accelGet', 'nginx', runs('accelGet'))),
    ];
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
  }
}
