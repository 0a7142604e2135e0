// 11. The server on S3 (STORAGE_BACKEND=s3; OpenStack Swift + s3api on loopback, lib/s3.mjs)
//     beside the AWS SDK talking to the same Swift directly (refs/s3-sdk.mjs, a process of its
//     own), runs interleaved:
//      - 1 GiB (--quick 256 MiB) in 8 MiB parts, four at a time (init + parts + complete) vs
//        lib-storage's Upload (8 MiB parts, queueSize 4) of the same file;
//      - the complete of that chunked upload (CompleteMultipartUpload, copy to the key, SHA-256),
//        and once of the same upload with its parts one at a time (the SHA-256 then chained in
//        flight: nothing read back);
//      - a 1 GiB GET through /storage (curl) vs GetObject (body read and dropped), and vs the
//        SDK reading it as the server does, 64 MiB ranged GETs in turn (info); a 100 MiB GET
//        through S3_DOWNLOAD_REDIRECT=true (curl -L follows the 302 to a presigned GET);
//      - ZIP of 10 × 100 MiB (stored) vs GetObject of the same 10 objects one after another (and
//        as ranged GETs, info);
//      - every read starts with no dirty pages pending (`sync`): the uploads and the copy leave GiBs
//        to write back, which would slow whichever read came first;
//      - the server's peak RSS (VmHWM) over all of it (idle RSS split into file-backed and
//        anonymous pages), and once more, start + one ZIP, with NODE_OPTIONS=--max-semi-space-size=1;
//      - `cli copy-data --to-storage s3` of a 1 GiB local deployment (copy + read-back), and a
//        second run that finds it there (hashes what the bucket holds).
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { call } from '../lib/http.mjs';
import { curlDownload, makeFile, mbps, median, MiB, procMemory, resetPeak, sizeLabel, warm } from '../lib/measure.mjs';
import { runOk } from '../lib/proc.mjs';
import { errorRow, info, limitRow, ratioRow } from '../lib/report.mjs';
import { BENCH_DIR, startServer } from '../lib/server.mjs';

export const name = 's3';

const PART = 8 * MiB;
/** The server's read segment (S3 reads are ranged GETs of ≤ 64 MiB: src/storage/s3/segmented-read.ts). */
const SEGMENT = 64 * MiB;
const QUEUE = 4;
const USER = 'bench-s3';

export async function run(ctx) {
  const s3 = await ctx.s3();
  const size = ctx.sizes.big;
  const reps = ctx.reps(3);
  const prefix = `bench-${process.pid}/`;
  // S3_PREFIX lets the SDK follow our server's aliases to the objects holding the bytes (refs/s3-sdk.mjs get).
  const sdkEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...s3.env(''), S3_PREFIX: prefix };
  const sdk = async (...args) => {
    const r = await runOk(process.execPath, [path.join(BENCH_DIR, 'refs/s3-sdk.mjs'), ...args.map(String)], { env: sdkEnv, cwd: ctx.appDir });
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  };
  const src = path.join(ctx.work, 's3-src.bin');
  const stoppers = [];
  try {
    makeFile(src, size);
    await warm(src);
    const server = await startServer(ctx, { caseName: name, name: 's3', env: s3.env(prefix) });
    stoppers.push(server);
    const token = await server.token(USER);
    const idleRss = server.memory()?.rss ?? NaN;
    const idleSplit = rssSplit(server.pid);
    const t = { oursE2E: [], oursParts: [], complete: [], sdkPut: [], sdkCopy: [], oursGet: [], sdkGet: [], sdkRanged: [], sdkPutRss: [] };
    // Each kind of work's own peak RSS (VmHWM reset before it through /proc/<pid>/clear_refs).
    const peaks = {};
    let canReset = true;
    const phase = async (label, fn) => {
      if (canReset) canReset = resetPeak(server.pid);
      const out = await fn();
      const hwmNow = procMemory(server.pid)?.hwm ?? NaN;
      if (canReset) peaks[label] = Math.max(peaks[label] ?? 0, hwmNow);
      return out;
    };

    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      const up = await phase('chunked upload + complete', () => server.uploadChunked(token, src, { partSize: PART, concurrency: QUEUE, name: `chunked-${rep}.bin` }));
      if (up.record.size !== size) throw new Error(`our chunked upload stored ${up.record.size} bytes`);
      t.oursE2E.push(mbps(size, up.totalSeconds));
      t.oursParts.push(mbps(size, up.partsSeconds));
      t.complete.push(up.completeSeconds);
      const sdkKey = `${prefix}sdk/put-${rep}.bin`;
      const put = await sdk('put', src, sdkKey, PART, QUEUE);
      if (put.bytes !== size) throw new Error(`the SDK sent ${put.bytes} bytes`);
      t.sdkPut.push(mbps(size, put.seconds));
      t.sdkPutRss.push(put.rssMB);
      // What a completion's server-side copy costs by itself on this S3 server.
      t.sdkCopy.push((await sdk('copy', sdkKey, `${sdkKey}.copy`)).seconds);

      // The uploads and the copy above leave GiBs of dirty pages: written back while a GET runs,
      // they would slow whichever GET came first (ours). Both start with none pending.
      await runOk('sync', []);
      const get = await phase('GET /storage', () => curlDownload(server.storageUrl(up.record.key)));
      if (get.status !== 200 || get.bytesDown !== size) throw new Error(`GET /storage → ${get.status}, ${get.bytesDown} bytes`);
      t.oursGet.push(get.speedDown / 1e6);
      await runOk('sync', []);
      const sdkGet = await sdk('get', sdkKey);
      if (sdkGet.bytes !== size) throw new Error(`GetObject read ${sdkGet.bytes} bytes`);
      t.sdkGet.push(mbps(size, sdkGet.seconds));
      await runOk('sync', []);
      const sdkRanged = await sdk('get-ranged', SEGMENT, sdkKey);
      if (sdkRanged.bytes !== size) throw new Error(`ranged GetObjects read ${sdkRanged.bytes} bytes`);
      t.sdkRanged.push(mbps(size, sdkRanged.seconds));

      await server.remove(token, up.record.key);
      await sdk('delete', sdkKey, `${sdkKey}.copy`);
      ctx.log(
        `  s3 rep ${rep + 1}/${reps}: upload ours ${t.oursE2E.at(-1).toFixed(0)} (parts ${t.oursParts.at(-1).toFixed(0)}) vs SDK ${t.sdkPut.at(-1).toFixed(0)} MB/s, ` +
          `complete ${t.complete.at(-1).toFixed(2)} s (SDK CopyObject ${t.sdkCopy.at(-1).toFixed(2)} s); download ours ${t.oursGet.at(-1).toFixed(0)} vs SDK ${t.sdkGet.at(-1).toFixed(0)} (ranged ${t.sdkRanged.at(-1).toFixed(0)}) MB/s`,
      );
    }

    // Once: the same upload with its parts one at a time, in order (the whole-file SHA-256 is
    // then chained in flight and complete reads nothing back).
    const seq = await server.uploadChunked(token, src, { partSize: PART, concurrency: 1, name: 'in-order.bin' });
    if (seq.record.size !== size) throw new Error(`our in-order upload stored ${seq.record.size} bytes`);
    await server.remove(token, seq.record.key);
    ctx.log(`  s3 in order: parts ${mbps(size, seq.partsSeconds).toFixed(0)} MB/s, complete ${seq.completeSeconds.toFixed(2)} s`);

    // ZIP of 10 × 100 MiB, each stored through the one-request upload (a multipart upload on S3).
    const { zipCount, zipEach } = ctx.sizes;
    const keys = [];
    const zipSrc = path.join(ctx.work, 's3-zip-src.bin');
    for (let i = 0; i < zipCount; i++) {
      makeFile(zipSrc, zipEach);
      keys.push((await phase('one-request uploads', () => server.uploadSingle(token, zipSrc, { name: `zip-${i}.bin` }))).record.key);
    }
    rmSync(zipSrc, { force: true });
    const zipTotal = zipCount * zipEach;
    const z = { ours: [], sdk: [], ranged: [] };
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      const { url } = await call('POST', `${server.url}/v1/files/batch-download`, { headers: { authorization: `Bearer ${token}` }, body: { keys } });
      await runOk('sync', []);
      const r = await phase('ZIP', () => curlDownload(url));
      if (r.status !== 200 || r.bytesDown < zipTotal) throw new Error(`batch download → ${r.status}, ${r.bytesDown} bytes`);
      z.ours.push(mbps(zipTotal, r.seconds));
      await runOk('sync', []);
      const g = await sdk('get', ...keys.map((k) => prefix + k));
      if (g.bytes !== zipTotal) throw new Error(`GetObject ×${zipCount} read ${g.bytes} bytes`);
      z.sdk.push(mbps(zipTotal, g.seconds));
      await runOk('sync', []);
      const gr = await sdk('get-ranged', SEGMENT, ...keys.map((k) => prefix + k));
      if (gr.bytes !== zipTotal) throw new Error(`ranged GetObjects ×${zipCount} read ${gr.bytes} bytes`);
      z.ranged.push(mbps(zipTotal, gr.seconds));
      ctx.log(`  s3 zip rep ${rep + 1}/${reps}: ours ${z.ours.at(-1).toFixed(0)} MB/s, GetObject ×${zipCount} ${z.sdk.at(-1).toFixed(0)} (ranged ${z.ranged.at(-1).toFixed(0)}) MB/s`);
    }
    const hwm = canReset ? Math.max(...Object.values(peaks)) : (server.memory()?.hwm ?? NaN);
    await server.stop();
    stoppers.pop();

    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
    const runs = (xs, digits = 0) => xs.map((x) => x.toFixed(digits)).join(', ');
    const label = sizeLabel(size);
    const rows = [
      info(name, `SDK lib-storage Upload, 8 MiB parts, queue 4, ${label}`, m.sdkPut, 'MB/s', { detail: `runs: ${runs(t.sdkPut)}; SDK process RSS ${runs(t.sdkPutRss)} MB` }),
      ratioRow(name, `8 MiB parts ×4: init+parts+complete, ${label}`, m.oursE2E, 'MB/s', 'SDK Upload', m.sdkPut, 0.8, {
        runs: [t.oursE2E, t.sdkPut],
        detail: `ours: ${runs(t.oursE2E)}; parts alone ${runs(t.oursParts)}`,
      }),
      ratioRow(name, `8 MiB parts ×4: the parts alone, ${label}`, m.oursParts, 'MB/s', 'SDK Upload', m.sdkPut, undefined, { runs: [t.oursParts, t.sdkPut] }),
      limitRow(name, `complete of a ${label} chunked upload (parts ×4)`, median(t.complete), 's', 1, { detail: `runs: ${runs(t.complete, 2)} s` }),
      info(name, `SDK CopyObject of a ${label} object (what a completion's copy costs by itself)`, m.sdkCopy, 's', { detail: `runs: ${runs(t.sdkCopy, 2)} s` }),
      limitRow(name, `complete of a ${label} chunked upload (parts one at a time, in order)`, seq.completeSeconds, 's', 1, {
        detail: `parts at ${mbps(size, seq.partsSeconds).toFixed(0)} MB/s one at a time`,
      }),
      ratioRow(name, `GET /storage, ${label}`, m.oursGet, 'MB/s', 'SDK GetObject', m.sdkGet, 0.8, {
        runs: [t.oursGet, t.sdkGet],
        detail: `ours: ${runs(t.oursGet)}; GetObject: ${runs(t.sdkGet)}`,
      }),
      ratioRow(name, `GET /storage, ${label}, against the SDK reading it as 64 MiB ranges in turn (as the server does)`, m.oursGet, 'MB/s', 'SDK ranged GetObjects', m.sdkRanged, undefined, {
        runs: [t.oursGet, t.sdkRanged],
        detail: `ranged GetObjects: ${runs(t.sdkRanged)}`,
      }),
      ratioRow(name, `batch ZIP, ${zipCount} × ${sizeLabel(zipEach)}`, median(z.ours), 'MB/s', `GetObject ×${zipCount}`, median(z.sdk), 0.8, {
        runs: [z.ours, z.sdk],
        detail: `ours: ${runs(z.ours)}; GetObject: ${runs(z.sdk)}`,
      }),
      ratioRow(name, `batch ZIP, ${zipCount} × ${sizeLabel(zipEach)}, against the SDK reading them as 64 MiB ranges in turn`, median(z.ours), 'MB/s', `ranged GetObjects ×${zipCount}`, median(z.ranged), undefined, {
        runs: [z.ours, z.ranged],
        detail: `ranged GetObjects: ${runs(z.ranged)}`,
      }),
      limitRow(name, 'peak RSS (VmHWM) of the server over the uploads, downloads and ZIPs above', hwm / 1e6, 'MB', 150, {
        detail: `idle after start ${(idleRss / 1e6).toFixed(0)} MB (${idleSplit}); ` + (canReset ? Object.entries(peaks).map(([k, v]) => `${k}: ${(v / 1e6).toFixed(0)} MB`).join('; ') : 'whole process (clear_refs not allowed)'),
      }),
    ];

    // Before the redirect step, which deletes the ZIP files.
    try {
      rows.push(await semiSpaceRow(ctx, s3, prefix, server.root, keys, zipTotal, USER));
    } catch (err) {
      rows.push({ ...errorRow(name, err), name: 'peak RSS with --max-semi-space-size=1 failed' });
    }

    // The same server restarted with S3_DOWNLOAD_REDIRECT=true: 302 to a presigned GET, followed by curl.
    try {
      const redirecting = await startServer(ctx, { caseName: name, name: 's3-redirect', root: server.root, env: { ...s3.env(prefix), S3_DOWNLOAD_REDIRECT: 'true' } });
      stoppers.push(redirecting);
      const redirect = [];
      let redirects = 0;
      for (let rep = 0; rep < reps; rep++) {
        const r = await runOk('curl', ['-sL', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total} %{num_redirects}', redirecting.storageUrl(keys[0])]);
        const [code, bytes, seconds, followed] = r.stdout.trim().split(' ').map(Number);
        if (code !== 200 || bytes !== zipEach) throw new Error(`GET with S3_DOWNLOAD_REDIRECT → ${code}, ${bytes} bytes`);
        redirects += followed;
        redirect.push(mbps(zipEach, seconds));
      }
      const token2 = await redirecting.token(USER); // a new port is a new issuer (PUBLIC_BASE_URL)
      for (const key of keys) await redirecting.remove(token2, key);
      await redirecting.stop();
      stoppers.pop();
      rows.push(
        info(name, `GET /storage with S3_DOWNLOAD_REDIRECT (302 + presigned GET, curl -L), ${sizeLabel(zipEach)}`, median(redirect), 'MB/s', {
          detail: `runs: ${runs(redirect)}; ${redirects === reps ? 'one redirect each' : `${redirects} redirects in ${reps} GETs: the build did not redirect`}`,
        }),
      );
    } catch (err) {
      rows.push({ ...errorRow(name, err), name: 'GET with S3_DOWNLOAD_REDIRECT failed' });
    }
    try {
      rows.push(...(await copyDataRows(ctx, s3, src, size)));
    } catch (err) {
      rows.push({ ...errorRow(name, err), name: 'cli copy-data --to-storage s3 failed' });
    }
    return rows;
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
    rmSync(src, { force: true });
  }
}

/** "X MB file-backed (the node binary, mostly), Y MB anonymous (V8's heap, buffers)" from /proc/<pid>/status. */
function rssSplit(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mb = (k) => (Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1000).toFixed(0);
    return `${mb('RssFile')} MB file-backed, ${mb('RssAnon')} MB anonymous`;
  } catch {
    return 'split unknown';
  }
}

/**
 * What V8's young generation costs: the same server and ZIP with NODE_OPTIONS=--max-semi-space-size=1
 * (Node 20's default lets new space grow to 16 MiB semi-spaces during start-up, committed for
 * good). Streamed bytes arrive in fresh socket Buffers that V8 frees only when young external
 * memory reaches a fixed 32 MiB, whatever the flag: that part of the peak stays.
 */
async function semiSpaceRow(ctx, s3, prefix, root, keys, zipTotal, user) {
  const small = await startServer(ctx, { caseName: name, name: 's3-semi-space', root, env: { ...s3.env(prefix), NODE_OPTIONS: '--max-semi-space-size=1' } });
  try {
    const idle = small.memory()?.rss ?? NaN;
    const idleSplit = rssSplit(small.pid);
    const token = await small.token(user);
    const { url } = await call('POST', `${small.url}/v1/files/batch-download`, { headers: { authorization: `Bearer ${token}` }, body: { keys } });
    const r = await curlDownload(url);
    if (r.status !== 200 || r.bytesDown < zipTotal) throw new Error(`batch download → ${r.status}, ${r.bytesDown} bytes`);
    const hwm = small.memory()?.hwm ?? NaN;
    return info(name, 'peak RSS (VmHWM) with NODE_OPTIONS=--max-semi-space-size=1: start + one ZIP', hwm / 1e6, 'MB', {
      detail: `idle after start ${(idle / 1e6).toFixed(0)} MB (${idleSplit}); ZIP at ${mbps(zipTotal, r.seconds).toFixed(0)} MB/s`,
    });
  } finally {
    await small.stop();
  }
}

/** `cli copy-data --to-storage s3` of a local deployment holding one big file, then once more. */
async function copyDataRows(ctx, s3, src, size) {
  const local = await startServer(ctx, { caseName: name, name: 's3-copy-source' });
  try {
    const token = await local.token(USER);
    await local.uploadSingle(token, src, { name: 'copied.bin' });
  } finally {
    await local.stop();
  }
  const env = { ...local.env, ...s3.env(`copy-${process.pid}/`), STORAGE_BACKEND: 'local' };
  const cli = path.join(ctx.appDir, 'dist/cli.js');
  const first = await runOk(process.execPath, [cli, 'copy-data', '--to-storage', 's3'], { env, cwd: ctx.appDir });
  if (!/objects: 1 copied/.test(first.stdout)) throw new Error(`copy-data: ${first.stdout}`);
  const again = await runOk(process.execPath, [cli, 'copy-data', '--to-storage', 's3'], { env, cwd: ctx.appDir });
  if (!/1 already in the target \(checked by sha256\)/.test(again.stdout)) throw new Error(`copy-data again: ${again.stdout}`);
  ctx.log(`  copy-data: ${first.seconds.toFixed(1)} s, again ${again.seconds.toFixed(1)} s`);
  rmSync(local.root, { recursive: true, force: true });
  const label = sizeLabel(size);
  return [
    info(name, `cli copy-data --to-storage s3, ${label} (copy, then read back and hashed)`, mbps(size, first.seconds), 'MB/s', { detail: `${first.seconds.toFixed(1)} s, process start included` }),
    info(name, `cli copy-data again: finds it there (reads and hashes the object), ${label}`, mbps(size, again.seconds), 'MB/s', { detail: `${again.seconds.toFixed(1)} s` }),
  ];
}
