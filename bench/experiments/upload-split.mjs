#!/usr/bin/env node
// Where the time of a one-part upload goes (issue 18 item 3). Not part of the bench run: run it
// under the shared lock, e.g.
//   flock /tmp/s23-bench.lock node bench/experiments/upload-split.mjs --reps=3 \
//     --entry=A=/tmp/base/dist/main.js --entry=B=dist/main.js [--size=1024] [--trace] [--parts]
// Interleaves, per rep: each entry's one-part PUT of the same file (curl -T, as the bench), the
// bare pipe (plain, ?fsync=1, ?sha256=1) and `dd bs=4M conv=fsync`; with --parts also each
// entry's 8 MiB parts ×4. For each it prints MB/s and the CPU seconds it cost, split by thread
// (server main thread, libuv pool, worker threads, V8's, curl), the whole machine's busy and
// iowait share, and with --trace (perf trace on the server) the time spent in fdatasync and
// the number and mean size of the write syscalls.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { makeFile, median, MiB, warm } from '../lib/measure.mjs';
import { pool, request } from '../lib/http.mjs';
import { run as runCmd, runOk, stopAll } from '../lib/proc.mjs';
import { startRef, startServer } from '../lib/server.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.join('=') || true];
  }),
);
const entries = process.argv
  .slice(2)
  .filter((a) => a.startsWith('--entry='))
  .map((a) => {
    const [label, file] = a.slice(8).split('=');
    return { label, file: path.resolve(file) };
  });
if (entries.length === 0) entries.push({ label: 'dist', file: path.resolve('dist/main.js') });
const reps = Number(args.reps ?? 3);
const size = Number(args.size ?? 1024) * MiB;
const trace = Boolean(args.trace);

const CLK = 100;
function threads(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const group = Number(tid) === pid ? 'main' : args.raw ? `${comm}/${tid}` : /libuv/.test(comm) ? 'pool' : /^V8|DefaultWorke|PlatformWorke/.test(comm) ? 'v8' : comm;
      out[group] = (out[group] ?? 0) + (Number(f[11]) + Number(f[12])) / CLK;
    } catch {
      /* thread gone */
    }
  }
  return out;
}
function machine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq + steal, idle, iowait, total: f.reduce((a, b) => a + b, 0) };
}
const diff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

async function timed(pid, fn) {
  const [t0, m0] = [pid ? threads(pid) : {}, machine()];
  let tracer = null;
  let traceOut = '';
  if (trace && pid) {
    tracer = spawn('perf', ['trace', '-p', String(pid), '-e', 'fdatasync,fsync,pwritev,pwrite64,writev,write,sync_file_range'], { stdio: ['ignore', 'pipe', 'pipe'] });
    tracer.stderr.on('data', (c) => (traceOut += c));
    tracer.stdout.on('data', (c) => (traceOut += c));
    await new Promise((r) => setTimeout(r, 300));
  }
  const r = await fn();
  const [t1, m1] = [pid ? threads(pid) : {}, machine()];
  if (tracer) {
    tracer.kill('SIGINT');
    await new Promise((r) => tracer.once('exit', r));
  }
  const m = diff(m0, m1);
  const out = { ...r, cpu: diff(t0, t1), busy: m.busy / m.total, iowait: m.iowait / m.total };
  if (tracer) {
    const calls = [...traceOut.matchAll(/\(\s*([\d.]+) ms\): \S+\s+(?:\.\.\. \[continued\]: )?(\w+)\(.*?\)\)?\s+= (-?\d+)/g)];
    const sum = (name) => calls.filter((c) => c[2] === name).reduce((s, c) => s + Number(c[1]), 0);
    const writes = calls.filter((c) => /^(pwritev|pwrite64|writev|write)$/.test(c[2]) && Number(c[3]) > 4096);
    out.fsyncMs = sum('fdatasync') + sum('fsync');
    out.writes = writes.length;
    out.writeMeanKiB = writes.length ? writes.reduce((s, c) => s + Number(c[3]), 0) / writes.length / 1024 : 0;
    out.writeMs = writes.reduce((s, c) => s + Number(c[1]), 0);
  }
  return out;
}

async function curl(url, file, { method = 'PUT', headers = {} } = {}) {
  const hdr = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const r = await runCmd('/usr/bin/time', ['-f', 'CPU %U %S', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '-X', method, '-T', file, '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream', ...hdr, url]);
  const [code, total] = r.stdout.trim().split(/\s+/);
  const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (code !== '200' && code !== '204') throw new Error(`${method} ${url} → ${code} ${r.stderr}`);
  return { seconds: Number(total), curlCpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN };
}

const work = mkdtempSync(path.join(os.tmpdir(), 'h3-split-'));
const ctx = { work, secrets: { serviceToken: `svc-${randomBytes(24).toString('hex')}`, signingKey: `sig-${randomBytes(24).toString('hex')}`, keysSecret: 'x' }, profileDirFor: () => (args.prof ? path.resolve(args.prof) : null), log: console.log };
const results = {};
const keep = (name, r) => (results[name] ??= []).push(r);
try {
  const src = path.join(work, 'src.bin');
  makeFile(src, size);
  await warm(src);
  const pipeDir = path.join(work, 'pipe');
  const ddOut = path.join(work, 'dd.bin');
  const clean = async () => {
    rmSync(pipeDir, { recursive: true, force: true });
    mkdirSync(pipeDir, { recursive: true });
    rmSync(ddOut, { force: true });
    await runCmd('sync', []);
  };
  const servers = [];
  for (const e of entries) {
    const s = await startServer(ctx, { caseName: 'split', name: `ours-${e.label}`, entry: e.file });
    servers.push({ ...e, s, token: await s.token('split') });
  }
  const pipe = await startRef(ctx, 'pipe-server.mjs', { caseName: 'split', name: 'pipe', env: { DIR: pipeDir } });
  await clean();
  for (let rep = 0; rep < reps; rep++) {
    for (const { label, s, token } of servers) {
      const init = await request('POST', `${s.url}/v1/files/init`, { headers: { authorization: `Bearer ${token}` }, body: { mode: 'single', files: [{ name: `r${rep}.bin`, size, mime: 'application/octet-stream' }] } });
      const id = init.json().uploadId;
      keep(`ours ${label} PUT`, await timed(s.pid, () => curl(`${s.url}/v1/files/part?uploadId=${id}&partNumber=1`, src, { headers: { authorization: `Bearer ${token}` } })));
      await request('DELETE', `${s.url}/v1/files/upload/${id}`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      rmSync(path.join(s.root, '.parts'), { recursive: true, force: true });
      mkdirSync(path.join(s.root, '.parts'));
      await clean();
      if (args.parts) {
        const ci = (await request('POST', `${s.url}/v1/files/init`, { headers: { authorization: `Bearer ${token}` }, body: { mode: 'chunked', partSize: 8 * MiB, files: [{ name: `c${rep}.bin`, size, mime: 'application/octet-stream' }] } })).json().uploads[0];
        keep(`ours ${label} parts×4`, await timed(s.pid, async () => {
          const t0 = process.hrtime.bigint();
          await pool(ci.partCount, 4, async (i) => {
            const start = i * ci.partSize;
            const res = await request('PUT', `${s.url}/v1/files/part?uploadId=${ci.uploadId}&partNumber=${i + 1}`, { headers: { authorization: `Bearer ${token}` }, body: { file: src, start, end: Math.min(size, start + ci.partSize) - 1 } });
            if (res.status !== 200) throw new Error(`part → ${res.status}`);
          });
          return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, curlCpu: NaN };
        }));
        rmSync(path.join(s.root, '.parts'), { recursive: true, force: true });
        mkdirSync(path.join(s.root, '.parts'));
        await clean();
      }
    }
    for (const q of args['no-refs'] ? [] : ['', '?fsync=1', '?sha256=1']) {
      keep(`pipe${q}`, await timed(pipe.pid, () => curl(`${pipe.url}/${q}`, src, { method: 'POST' })));
      await clean();
    }
    if (!args['no-refs']) keep('dd conv=fsync', await timed(null, async () => {
      const r = await runOk('dd', [`if=${src}`, `of=${ddOut}`, 'bs=4M', 'conv=fsync', 'status=none']);
      return { seconds: r.seconds, curlCpu: NaN };
    }));
    await clean();
    console.log(`rep ${rep + 1}: ` + Object.entries(results).map(([k, v]) => `${k} ${(size / v.at(-1).seconds / 1e6).toFixed(0)}`).join(', '));
  }
  const gib = size / 1024 ** 3;
  console.log(`\n${(size / MiB).toFixed(0)} MiB; medians over ${reps} reps; CPU in s/GiB; pipe ratio = per-run ratio to the plain pipe of the same rep`);
  for (const [name, runs] of Object.entries(results)) {
    const groups = [...new Set(runs.flatMap((r) => Object.keys(r.cpu)))];
    const cpu = groups.map((g) => `${g} ${(median(runs.map((r) => r.cpu[g] ?? 0)) / gib).toFixed(2)}`).join(', ');
    const ratio = results.pipe ? median(runs.map((r, i) => results.pipe[i].seconds / r.seconds)) : NaN;
    const extra = runs[0].fsyncMs !== undefined ? `; fdatasync ${median(runs.map((r) => r.fsyncMs)).toFixed(0)} ms, ${median(runs.map((r) => r.writes))} writes of ${median(runs.map((r) => r.writeMeanKiB)).toFixed(0)} KiB (${median(runs.map((r) => r.writeMs)).toFixed(0)} ms in them)` : '';
    console.log(`${name}: ${median(runs.map((r) => size / r.seconds / 1e6)).toFixed(0)} MB/s (runs ${runs.map((r) => (size / r.seconds / 1e6).toFixed(0)).join(', ')}; ×pipe ${ratio.toFixed(2)}) | wall ${(median(runs.map((r) => r.seconds)) / gib).toFixed(2)} s/GiB | server ${cpu} | curl ${(median(runs.map((r) => r.curlCpu)) / gib).toFixed(2)} | machine busy ${(100 * median(runs.map((r) => r.busy))).toFixed(0)}% iowait ${(100 * median(runs.map((r) => r.iowait))).toFixed(0)}%${extra}`);
  }
} finally {
  await stopAll();
  if (!args.keep) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
