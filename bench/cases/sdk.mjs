// sdk (issue 15): the TypeScript SDK's resumable upload of one big file (1 GiB; --quick 256 MiB)
// from a path (client/node uploadPath: 8 MiB parts read by range, four in flight, each with its
// SHA-256 from WebCrypto sent for the server to check, then complete) beside the raw HTTP upload
// of the same file with the same parts (lib/server.mjs uploadChunked: init, PUT parts straight
// from the file four at a time, complete; no client-side hashing). Both timed init → record, in
// this process, runs interleaved. Target ≥ 0.9× raw. Also the SDK without per-part checksums
// (what the hashing costs).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeFile, mbps, median, MiB, sizeLabel, warm } from '../lib/measure.mjs';
import { run as runCmd } from '../lib/proc.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'sdk';

const PART = 8 * MiB;
const CONCURRENCY = 4;

export async function run(ctx) {
  const size = ctx.sizes.big;
  const reps = ctx.reps(3);
  const src = path.join(ctx.work, 'sdk-src.bin');
  let ours;
  try {
    makeFile(src, size);
    ours = await startServer(ctx, { caseName: name, name: 'sdk' });
    const token = await ours.token('bench-sdk');
    const { StreamLineClient } = await import(pathToFileURL(path.join(ctx.appDir, 'dist/client/index.js')).href);
    const { uploadPath } = await import(pathToFileURL(path.join(ctx.appDir, 'dist/client/node.js')).href);
    const sl = new StreamLineClient({ baseUrl: ours.url, accessToken: token });
    await warm(src);

    const t = { raw: [], sdk: [], sdkNoSum: [] };
    const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
    const sdkUpload = async (rep, checksum) => {
      const t0 = process.hrtime.bigint();
      const record = await uploadPath(sl, src, { name: `sdk-${rep}-${checksum}.bin`, partSize: PART, concurrency: CONCURRENCY, checksum });
      const s = seconds(t0);
      if (record.size !== size) throw new Error(`SDK upload stored ${record.size} bytes`);
      await sl.files.delete(record.key);
      await runCmd('sync', []);
      return mbps(size, s);
    };
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      const raw = await ours.uploadChunked(token, src, { partSize: PART, concurrency: CONCURRENCY, name: `raw-${rep}.bin` });
      if (raw.record.size !== size) throw new Error(`raw upload stored ${raw.record.size} bytes`);
      t.raw.push(mbps(size, raw.totalSeconds));
      await ours.remove(token, raw.record.key);
      await runCmd('sync', []);
      t.sdk.push(await sdkUpload(rep, true));
      t.sdkNoSum.push(await sdkUpload(rep, false));
    }
    const label = `${sizeLabel(size)}, ${sizeLabel(PART)} parts ×${CONCURRENCY}`;
    return [
      ratioRow(name, `SDK uploadPath (per-part SHA-256), ${label}`, median(t.sdk), 'MB/s', 'raw HTTP parts', median(t.raw), 0.9, { runs: [t.sdk, t.raw] }),
      ratioRow(name, `SDK uploadPath, no part checksums, ${label}`, median(t.sdkNoSum), 'MB/s', 'raw HTTP parts', median(t.raw), undefined, { runs: [t.sdkNoSum, t.raw] }),
      info(name, `raw HTTP parts (init → complete), ${label}`, median(t.raw), 'MB/s'),
    ];
  } finally {
    await ours?.stop?.();
    rmSync(src, { force: true });
  }
}
