// 2. Upload one big file (1 GiB; --quick 256 MiB) as one part and as 8 MiB parts four at a time
//    (and once one at a time; BENCH_UPLOAD_5GIB=1 adds a 5× file), timing the completion;
//    beside a bare node:http pipe (4 MiB write buffer), @tus/server + @tus/file-store, and dd.
//    Every run is followed by deleting what it wrote and `sync`, so runs do not share write-back.
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pool, request } from '../lib/http.mjs';
import { curlUpload, makeFile, mbps, median, MiB, sizeLabel, warm } from '../lib/measure.mjs';
import { run as runCmd, runOk } from '../lib/proc.mjs';
import { info, limitRow, ratioRow } from '../lib/report.mjs';
import { startRef, startServer } from '../lib/server.mjs';

export const name = 'upload';

const PART = 8 * MiB;
const CONCURRENCY = 4;

async function tusClient() {
  const mod = await import('tus-js-client');
  return mod.Upload ? mod : mod.default;
}

export async function run(ctx) {
  const size = ctx.sizes.big;
  const reps = ctx.reps(5);
  const stoppers = [];
  const src = path.join(ctx.work, 'upload-src.bin');
  const pipeDir = path.join(ctx.work, 'upload-pipe');
  const tusDir = path.join(ctx.work, 'upload-tus');
  const ddOut = path.join(ctx.work, 'upload-dd.bin');
  const clean = async () => {
    for (const d of [pipeDir, tusDir]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
    rmSync(ddOut, { force: true });
    await runCmd('sync', []);
  };
  try {
    makeFile(src, size);
    await clean();
    const ours = await startServer(ctx, { caseName: name, name: 'upload' });
    stoppers.push(ours);
    const pipe = await startRef(ctx, 'pipe-server.mjs', { caseName: name, name: 'upload-pipe', env: { DIR: pipeDir } });
    stoppers.push(pipe);
    const tusSrv = await startRef(ctx, 'tus-server.mjs', { caseName: name, name: 'upload-tus', env: { DIR: tusDir } });
    stoppers.push(tusSrv);
    const tus = await tusClient();
    const token = await ours.token('bench-upload');
    await warm(src);

    const t = {
      oursPut: [], oursSingleE2E: [], pipe: [], pipeSha: [], pipeFsync: [], tusPatch: [], dd: [],
      oursParts: [], oursChunkedE2E: [], oursComplete: [], pipeParts: [], tusChunks: [],
    };
    const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      // ours, one part (curl streams the file; the server hashes SHA-256 + MD5 on the way)
      const single = await ours.uploadSingle(token, src, { name: `single-${rep}.bin` });
      if (single.record.size !== size) throw new Error(`our single upload stored ${single.record.size} bytes`);
      t.oursPut.push(single.putSpeed / 1e6);
      t.oursSingleE2E.push(mbps(size, single.totalSeconds));
      await ours.remove(token, single.record.key);
      await clean();

      // bare pipe, same client
      const p = await curlUpload(`${pipe.url}/`, src, { method: 'POST' });
      if (p.status !== 200) throw new Error(`pipe upload → ${p.status}`);
      t.pipe.push(p.speedUp / 1e6);
      await clean();
      const ps = await curlUpload(`${pipe.url}/?sha256=1`, src, { method: 'POST' });
      if (ps.status !== 200) throw new Error(`pipe+sha256 upload → ${ps.status}`);
      t.pipeSha.push(ps.speedUp / 1e6);
      await clean();
      const pf = await curlUpload(`${pipe.url}/?fsync=1`, src, { method: 'POST' });
      if (pf.status !== 200) throw new Error(`pipe+fsync upload → ${pf.status}`);
      t.pipeFsync.push(mbps(size, pf.seconds));
      await clean();

      // tus: creation (untimed), then one PATCH of the whole file through curl
      const created = await request('POST', `${tusSrv.url}/files`, { headers: { 'tus-resumable': '1.0.0', 'upload-length': String(size) } });
      if (created.status !== 201) throw new Error(`tus create → ${created.status}`);
      const location = new URL(created.headers.location, tusSrv.url).href;
      const tp = await curlUpload(location, src, {
        method: 'PATCH',
        contentType: 'application/offset+octet-stream',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0' },
      });
      if (tp.status !== 204) throw new Error(`tus PATCH → ${tp.status}`);
      t.tusPatch.push(tp.speedUp / 1e6);
      await clean();

      // dd to the same disk, with fsync
      const dd = await runOk('dd', [`if=${src}`, `of=${ddOut}`, 'bs=4M', 'conv=fsync', 'status=none']);
      t.dd.push(mbps(size, dd.seconds));
      await clean();

      // ours, chunked: 8 MiB parts, four in flight, then complete (assembles the parts)
      const chunked = await ours.uploadChunked(token, src, { partSize: PART, concurrency: CONCURRENCY, name: `chunked-${rep}.bin` });
      if (chunked.record.size !== size) throw new Error(`our chunked upload stored ${chunked.record.size} bytes`);
      t.oursParts.push(mbps(size, chunked.partsSeconds));
      t.oursChunkedE2E.push(mbps(size, chunked.totalSeconds));
      t.oursComplete.push(chunked.completeSeconds);
      await ours.remove(token, chunked.record.key);
      await clean();

      // bare pipe, same parts, same client, each part into its own file
      const partCount = Math.ceil(size / PART);
      let t0 = process.hrtime.bigint();
      await pool(partCount, CONCURRENCY, async (i) => {
        const start = i * PART;
        const end = Math.min(size, start + PART) - 1;
        const res = await request('POST', `${pipe.url}/`, { body: { file: src, start, end } });
        if (res.status !== 200) throw new Error(`pipe part → ${res.status}`);
      });
      t.pipeParts.push(mbps(size, seconds(t0)));
      await clean();

      // tus-js-client, 8 MiB chunks (tus PATCHes one upload in order: no parallel parts
      // without the concatenation extension, which @tus/file-store does not offer)
      t0 = process.hrtime.bigint();
      await new Promise((resolve, reject) => {
        const up = new tus.Upload(createReadStream(src), {
          endpoint: `${tusSrv.url}/files`,
          chunkSize: PART,
          uploadSize: size,
          retryDelays: null,
          metadata: { filename: 'chunked.bin' },
          onSuccess: resolve,
          onError: reject,
        });
        up.start();
      });
      t.tusChunks.push(mbps(size, seconds(t0)));
      const stored = statSync(path.join(tusDir, readdirSync(tusDir).find((f) => !f.endsWith('.json')))).size;
      if (stored !== size) throw new Error(`tus chunked stored ${stored} bytes`);
      await clean();

      ctx.log(
        `  upload rep ${rep + 1}/${reps}: ours PUT ${t.oursPut.at(-1).toFixed(0)}, pipe ${t.pipe.at(-1).toFixed(0)}, tus ${t.tusPatch.at(-1).toFixed(0)}, ` +
          `dd ${t.dd.at(-1).toFixed(0)}; parts: ours ${t.oursParts.at(-1).toFixed(0)}, pipe ${t.pipeParts.at(-1).toFixed(0)}, tus ${t.tusChunks.at(-1).toFixed(0)} MB/s`,
      );
    }
    // Once: the same chunked upload with its parts one at a time, in order; and, opt-in
    // (BENCH_UPLOAD_5GIB=1, ~11 GiB free under $TMPDIR), a 5 GiB one ×4: the completion must
    // not grow with the size (parts are written in place, the digest chained as they arrive).
    const seq = await ours.uploadChunked(token, src, { partSize: PART, concurrency: 1, name: 'in-order.bin' });
    if (seq.record.size !== size) throw new Error(`our in-order upload stored ${seq.record.size} bytes`);
    await ours.remove(token, seq.record.key);
    await clean();
    let huge = null;
    if (process.env.BENCH_UPLOAD_5GIB === '1') {
      const hugeSrc = path.join(ctx.work, 'upload-5g.bin');
      makeFile(hugeSrc, 5 * size);
      huge = await ours.uploadChunked(token, hugeSrc, { partSize: PART, concurrency: CONCURRENCY, name: 'five.bin' });
      rmSync(hugeSrc, { force: true });
      if (huge.record.size !== 5 * size) throw new Error(`our 5× upload stored ${huge.record.size} bytes`);
      await ours.remove(token, huge.record.key);
      await clean();
    }
    ctx.log(`  upload in order: parts ${mbps(size, seq.partsSeconds).toFixed(0)} MB/s, complete ${seq.completeSeconds.toFixed(2)} s` + (huge ? `; ${sizeLabel(5 * size)} ×4: parts ${mbps(5 * size, huge.partsSeconds).toFixed(0)} MB/s, complete ${huge.completeSeconds.toFixed(2)} s` : ''));

    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
    const runs = (k) => ({ detail: `runs: ${t[k].map((x) => x.toFixed(0)).join(', ')}` });
    const label = sizeLabel(size);
    return [
      info(name, `bare node pipe (4 MiB buffer), one request, ${label}`, m.pipe, 'MB/s', runs('pipe')),
      ratioRow(name, `bare node pipe + SHA-256 in a Transform, ${label}`, m.pipeSha, 'MB/s', 'bare pipe', m.pipe, undefined, {
        ...runs('pipeSha'),
        runs: [t.pipeSha, t.pipe],
      }),
      info(name, `@tus/server, one PATCH, ${label}`, m.tusPatch, 'MB/s', runs('tusPatch')),
      info(name, `dd bs=4M conv=fsync, ${label}`, m.dd, 'MB/s', runs('dd')),
      ratioRow(name, `one part: PUT with SHA-256, ${label}`, m.oursPut, 'MB/s', 'bare pipe', m.pipe, 0.8, { ...runs('oursPut'), runs: [t.oursPut, t.pipe] }),
      ratioRow(name, `one part: PUT with SHA-256, ${label}`, m.oursPut, 'MB/s', '@tus/server', m.tusPatch, 2, { runs: [t.oursPut, t.tusPatch] }),
      ratioRow(name, `one part: init+PUT+complete (fsync), ${label}`, m.oursSingleE2E, 'MB/s', 'bare pipe + fsync', m.pipeFsync, undefined, {
        runs: [t.oursSingleE2E, t.pipeFsync],
        detail: `pipe+fsync runs: ${t.pipeFsync.map((x) => x.toFixed(0)).join(', ')}; vs dd ${(m.oursSingleE2E / m.dd).toFixed(2)}×`,
      }),
      info(name, `bare node pipe, 8 MiB parts ×4, ${label}`, m.pipeParts, 'MB/s', runs('pipeParts')),
      info(name, `@tus/server + tus-js-client, 8 MiB chunks, ${label}`, m.tusChunks, 'MB/s', runs('tusChunks')),
      ratioRow(name, `8 MiB parts ×4: the parts, ${label}`, m.oursParts, 'MB/s', 'bare pipe', m.pipeParts, 0.8, { ...runs('oursParts'), runs: [t.oursParts, t.pipeParts] }),
      ratioRow(name, `8 MiB parts ×4: the parts, ${label}`, m.oursParts, 'MB/s', '@tus/server', m.tusChunks, 2, { runs: [t.oursParts, t.tusChunks] }),
      ratioRow(name, `8 MiB parts ×4: init+parts+complete, ${label}`, m.oursChunkedE2E, 'MB/s', 'bare pipe', m.pipeParts, undefined, {
        runs: [t.oursChunkedE2E, t.pipeParts],
        detail: `complete took ${t.oursComplete.map((x) => x.toFixed(2)).join(', ')} s`,
      }),
      limitRow(name, `complete of a ${label} chunked upload (8 MiB parts ×4): last part's 200 → 201`, m.oursComplete, 's', 1, { detail: `runs: ${t.oursComplete.map((x) => x.toFixed(2)).join(', ')} s` }),
      limitRow(name, `complete of a ${label} chunked upload (parts one at a time, in order)`, seq.completeSeconds, 's', 1, { detail: `parts at ${mbps(size, seq.partsSeconds).toFixed(0)} MB/s one at a time` }),
      ...(huge
        ? [limitRow(name, `complete of a ${sizeLabel(5 * size)} chunked upload (8 MiB parts ×4)`, huge.completeSeconds, 's', 2, { detail: `parts at ${mbps(5 * size, huge.partsSeconds).toFixed(0)} MB/s; BENCH_UPLOAD_5GIB=1` })]
        : []),
    ];
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
    rmSync(src, { force: true });
  }
}

