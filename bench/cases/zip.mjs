// 6. ZIP of 10 × 100 MiB (--quick 10 × 25 MiB): POST /v1/files/batch-download, then GET the
//    URL (streamed ZIP, stored) with curl, beside `zip -q -0 -r -` of the same files on disk.
//    MB/s = input bytes / wall time for both.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { call } from '../lib/http.mjs';
import { curlDownload, makeFile, mbps, median, sizeLabel, warm } from '../lib/measure.mjs';
import { run as runCmd, runOk } from '../lib/proc.mjs';
import { ratioRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'zip';

const USER = 'bench-zip';

export async function run(ctx) {
  const { zipCount, zipEach } = ctx.sizes;
  const reps = ctx.reps(3);
  const server = await startServer(ctx, { caseName: name, name: 'zip' });
  try {
    const token = await server.token(USER);
    const keys = [];
    for (let i = 0; i < zipCount; i++) {
      const src = path.join(ctx.work, `zip-src-${i}.bin`);
      makeFile(src, zipEach);
      const { record } = await server.uploadSingle(token, src, { name: `part-${i}.bin` });
      keys.push(record.key);
      rmSync(src, { force: true });
    }
    const dir = path.join(server.root, 'storage', USER);
    for (const key of keys) await warm(path.join(server.root, key));
    const total = zipCount * zipEach;
    const headers = { authorization: `Bearer ${token}` };
    const batchUrl = async () => (await call('POST', `${server.url}/v1/files/batch-download`, { headers, body: { keys } })).url;

    // Once, untimed: the ZIP is complete and lists every entry.
    const check = path.join(ctx.work, 'zip-check.zip');
    await runOk('curl', ['-sf', '-o', check, await batchUrl()]);
    const listing = await runCmd('unzip', ['-Z1', check]);
    if (listing.code === 0) {
      const entries = listing.stdout.trim().split('\n').filter(Boolean);
      if (entries.length !== zipCount) throw new Error(`the ZIP lists ${entries.length} entries, expected ${zipCount}`);
    }
    rmSync(check, { force: true });

    const ours = [];
    const ref = [];
    let zipBytes = 0;
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      const r = await curlDownload(await batchUrl());
      if (r.status !== 200 || r.bytesDown < total) throw new Error(`batch download → ${r.status}, ${r.bytesDown} bytes`);
      zipBytes = r.bytesDown;
      ours.push(mbps(total, r.seconds));
      const z = await runOk('sh', ['-c', 'zip -q -0 -r - . > /dev/null'], { cwd: dir });
      ref.push(mbps(total, z.seconds));
      ctx.log(`  zip rep ${rep + 1}/${reps}: ours ${ours.at(-1).toFixed(0)} MB/s, zip -0 ${ref.at(-1).toFixed(0)} MB/s`);
    }
    return [
      ratioRow(name, `batch ZIP, ${zipCount} × ${sizeLabel(zipEach)}`, median(ours), 'MB/s', 'zip -0', median(ref), 2, {
        runs: [ours, ref],
        detail: `ours: ${ours.map((x) => x.toFixed(0)).join(', ')}; zip -0: ${ref.map((x) => x.toFixed(0)).join(', ')}; ZIP ${zipBytes} bytes`,
      }),
    ];
  } finally {
    await server.stop();
  }
}
