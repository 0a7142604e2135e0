// 3. Peak RSS (VmHWM) of a fresh server process per file size (100 MiB and 2 GiB; --quick
//    100 MiB and 512 MiB) from its start (with an ADMIN_PASSWORD to hash), through 10 logins at
//    once, while it takes the file as one part, again as 8 MiB parts four at a time (plus the
//    assembly on complete), then serves both copies through /storage and /get.
//    VmHWM over the whole sequence is the target; each phase's own peak is also reported
//    (VmHWM reset between phases through /proc/<pid>/clear_refs, when allowed).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { curlDownload, curlUpload, makeFile, memorySampler, MiB, procMemory, resetPeak, sizeLabel } from '../lib/measure.mjs';
import { info, limitRow } from '../lib/report.mjs';
import { startRef, startServer } from '../lib/server.mjs';

export const name = 'rss';

const MB = (bytes) => bytes / 1e6;

async function measureSize(ctx, size) {
  const src = path.join(ctx.work, `rss-${size}.bin`);
  makeFile(src, size);
  const admin = { username: 'bench-admin', password: `bench-${randomBytes(12).toString('hex')}` };
  const env = { ADMIN_USERNAME: admin.username, ADMIN_PASSWORD: admin.password };
  const server = await startServer(ctx, { caseName: name, name: `rss-${sizeLabel(size).replace(' ', '')}`, env });
  try {
    const token = await server.token('bench-rss');
    const idle = server.memory();
    const sampler = memorySampler(server.pid, 50);
    // The start's own peak (the admin's password hashed at start) counts: reset only after it.
    const phases = { 'start (admin password hashed)': { peak: idle.hwm, start: 0, end: idle.rss } };
    let overall = idle.hwm;
    let canReset = true;
    const phase = async (label, fn) => {
      const before = server.memory();
      if (canReset) canReset = resetPeak(server.pid);
      const out = await fn();
      const after = server.memory();
      overall = Math.max(overall, after.hwm);
      if (canReset) phases[label] = { peak: after.hwm, start: before.rss, end: after.rss };
      return out;
    };
    await phase('10 logins at once', async () => {
      const login = () =>
        fetch(`${server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin) }).then((r) => r.status);
      const statuses = await Promise.all(Array.from({ length: 10 }, login));
      if (statuses.some((s) => s !== 200)) throw new Error(`logins → ${statuses.join(', ')}`);
    });
    const single = await phase('one-part upload', () => server.uploadSingle(token, src, { name: 'one-part.bin' }));
    const chunked = await phase('8 MiB ×4 upload + assembly', () => server.uploadChunked(token, src, { partSize: 8 * MiB, concurrency: 4, name: 'parts.bin' }));
    await phase('downloads (/storage, /get × 2 files)', async () => {
      for (const key of [single.record.key, chunked.record.key]) {
        const a = await curlDownload(server.storageUrl(key));
        const b = await curlDownload(await server.signedUrl(token, key));
        for (const r of [a, b]) if (r.status !== 200 || r.bytesDown !== size) throw new Error(`download → ${r.status}, ${r.bytesDown} bytes`);
      }
    });
    const mem = sampler.stop();
    // Without clear_refs, VmHWM is the whole process's peak since start (start-up included).
    const hwm = canReset ? overall : mem.hwm;
    return { idleRss: idle.rss, hwm, maxRss: mem.maxRss, samples: mem.samples, phases, endRss: procMemory(server.pid)?.rss ?? NaN };
  } finally {
    await server.stop();
    rmSync(src, { force: true });
    rmSync(server.root, { recursive: true, force: true });
  }
}

export async function run(ctx) {
  const [small, big] = ctx.sizes.rss;
  const out = [];
  const results = [];
  for (const size of [small, big]) {
    const m = await measureSize(ctx, size);
    results.push(m);
    const phaseText = Object.entries(m.phases)
      .map(([k, p]) => `${k}: peak ${MB(p.peak).toFixed(0)} MB (from ${MB(p.start).toFixed(0)})`)
      .join('; ');
    ctx.log(`  ${sizeLabel(size)}: VmHWM ${MB(m.hwm).toFixed(1)} MB (idle RSS ${MB(m.idleRss).toFixed(1)} MB) ${phaseText}`);
    const detail = { detail: `idle RSS ${MB(m.idleRss).toFixed(0)} MB, after ${MB(m.endRss).toFixed(0)} MB; ${phaseText || 'per-phase peaks unavailable'}` };
    out.push(size === big ? limitRow(name, `peak RSS (VmHWM), ${sizeLabel(size)} up + down`, MB(m.hwm), 'MB', 150, detail) : info(name, `peak RSS (VmHWM), ${sizeLabel(size)} up + down`, MB(m.hwm), 'MB', detail));
  }
  // Reference: the bare node:http pipe (4 MiB write buffer) taking the big file, for scale.
  const src = path.join(ctx.work, 'rss-pipe.bin');
  makeFile(src, big);
  const pipe = await startRef(ctx, 'pipe-server.mjs', { caseName: name, name: 'rss-pipe', env: { DIR: path.join(ctx.work, 'rss-pipe') } });
  try {
    const idle = pipe.memory();
    const r = await curlUpload(`${pipe.url}/`, src, { method: 'POST' });
    if (r.status !== 200) throw new Error(`pipe upload → ${r.status}`);
    const m = pipe.memory();
    out.push(info(name, `bare node pipe server, ${sizeLabel(big)} upload`, MB(m.hwm), 'MB', { detail: `idle RSS ${MB(idle.rss).toFixed(0)} MB: +${MB(m.hwm - idle.rss).toFixed(0)} MB while receiving` }));
  } finally {
    await pipe.stop();
    rmSync(src, { force: true });
    rmSync(path.join(ctx.work, 'rss-pipe'), { recursive: true, force: true });
  }
  out.push(limitRow(name, `VmHWM growth ${sizeLabel(small)} → ${sizeLabel(big)}`, MB(results[1].hwm - results[0].hwm), 'MB', 20, { detail: 'must not grow with the file size' }));
  return out;
}
