// Download A/B over many fresh server processes (issue 18 item 2): does a build or setting run
// nearer nginx, and is a process's speed bimodal? One 1 GiB file is uploaded once; then, per
// round and variant (order alternating), a fresh server process serves a warm-up GET and two
// timed curl GETs of /storage, each right after a timed nginx (sendfile) GET of the same file.
// Per download: ratio to that nginx run, minor page faults of the server per GiB
// (/proc/<pid>/stat minflt), server CPU s/GiB; per process: VmHWM.
//
//   flock /tmp/s23-bench.lock node bench/experiments/download-ab.mjs <rounds> \
//     old=/path/to/a/dist/main.js[,ENV=value...] new=/path/to/b/dist/main.js[,ENV=value...]
//
// SIZE=<bytes> for another size; PROF=<dir> for CPU profiles of every server (summarise them
// with `node bench/lib/profile.mjs <dir>/<variant>-<round>`).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuSeconds, curlDownload, GiB, makeFile, mbps, median, warm } from '../lib/measure.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { encodeKey, startServer } from '../lib/server.mjs';

const rounds = Number(process.argv[2]);
const variants = process.argv.slice(3).map((arg) => {
  const [name, rest] = arg.split('=', 2);
  const [entry, ...envs] = rest.split(',');
  return { name, entry, env: Object.fromEntries(envs.map((e) => e.split('='))) };
});
if (!(rounds > 0) || variants.length === 0) throw new Error('usage: download-ab.mjs <rounds> name=entry[,ENV=V…] …');
const size = Number(process.env.SIZE ?? GiB);
const gib = size / GiB;
const work = mkdtempSync(path.join(os.tmpdir(), 'download-ab-'));
const ctx = {
  work,
  profileDirFor: process.env.PROF ? () => process.env.PROF : undefined,
  secrets: { serviceToken: `svc-${randomBytes(16).toString('hex')}`, signingKey: `sig-${randomBytes(16).toString('hex')}` },
  log: console.log,
};
const minflt = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[7]);
const hwmMB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const root = path.join(work, 'root');
const results = Object.fromEntries(variants.map((v) => [v.name, { ratios: [], speeds: [], faults: [], cpu: [], hwm: [] }]));
let nginx;
try {
  const seed = await startServer(ctx, { caseName: 'ab', name: 'seed', root, entry: variants[0].entry });
  const token = await seed.token('ab');
  const src = path.join(work, 'src.bin');
  makeFile(src, size);
  const { record } = await seed.uploadSingle(token, src, { name: 'big.bin' });
  rmSync(src);
  await seed.stop();
  nginx = await startNginx(ctx, { name: 'nginx', root });
  const keyPath = `/${encodeKey(record.key)}`;
  await warm(path.join(root, record.key));
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      const s = await startServer(ctx, { caseName: 'ab', name: `${v.name}-${r}`, root, entry: v.entry, env: v.env });
      const res = results[v.name];
      try {
        await curlDownload(`${s.url}${keyPath}`); // warm-up: JIT, pools
        const line = [];
        for (let i = 0; i < 2; i++) {
          const n = await curlDownload(`${nginx.directUrl}${keyPath}`);
          const [f0, c0] = [minflt(s.pid), cpuSeconds(s.pid)];
          const d = await curlDownload(`${s.url}${keyPath}`);
          const [f1, c1] = [minflt(s.pid), cpuSeconds(s.pid)];
          if (d.status !== 200 || d.bytesDown !== size) throw new Error(`${v.name}: ${d.status}, ${d.bytesDown} of ${size} bytes`);
          const [ours, ref] = [mbps(d.bytesDown, d.seconds), mbps(n.bytesDown, n.seconds)];
          res.ratios.push(ours / ref);
          res.speeds.push(ours);
          res.faults.push((f1 - f0) / gib);
          res.cpu.push((c1 - c0) / gib);
          line.push(`${ours.toFixed(0)}/${ref.toFixed(0)} MB/s (${(ours / ref).toFixed(2)}×, ${((f1 - f0) / gib / 1000).toFixed(1)}k faults/GiB)`);
        }
        res.hwm.push(hwmMB(s.pid));
        console.log(`round ${r} ${v.name}: ${line.join('  ')}  VmHWM ${res.hwm.at(-1).toFixed(0)} MB`);
      } finally {
        await s.stop();
      }
    }
  }
  const list = (xs, d = 2) => xs.map((x) => x.toFixed(d)).join(' ');
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name}: ratio to nginx median ${median(r.ratios).toFixed(2)} (${list(r.ratios)}); ${median(r.speeds).toFixed(0)} MB/s; ` +
        `minflt/GiB median ${median(r.faults).toFixed(0)} (max ${Math.max(...r.faults).toFixed(0)}); server CPU s/GiB median ${median(r.cpu).toFixed(2)}; VmHWM ${list(r.hwm, 0)} MB`,
    );
  }
} finally {
  await nginx?.stop();
  rmSync(work, { recursive: true, force: true });
}
