// tus (issue 15): tus-js-client uploading one big file (1 GiB; --quick 256 MiB) from disk to our
// /v1/tus/ beside the same client against @tus/server + @tus/file-store writing to the same disk.
// Timed from the client's start to onSuccess, so ours includes the completion (the file record,
// its SHA-256, the assembly of the parts) that @tus/file-store does not do. Two client set-ups:
// one PATCH for the whole file (tus-js-client's default chunkSize), and 8 MiB chunks; ours also
// with parallelUploads: 4 (concatenation, which @tus/file-store does not offer). Target ≥ 1.5×.
// Beside them the same client into a server that reads and drops the bytes (refs/tus-sink.mjs):
// the most tus-js-client sends on this machine, so what 1.5× @tus/server asks can be read
// against what is possible at all.
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { cpuSeconds, makeFile, mbps, median, MiB, sizeLabel, warm } from '../lib/measure.mjs';
import { run as runCmd } from '../lib/proc.mjs';
import { info, ratioRow } from '../lib/report.mjs';
import { startRef, startServer } from '../lib/server.mjs';

export const name = 'tus';

const CHUNK = 8 * MiB;

async function tusClient() {
  const mod = await import('tus-js-client');
  return mod.Upload ? mod : mod.default;
}

export async function run(ctx) {
  const size = ctx.sizes.big;
  const reps = ctx.reps(3);
  const stoppers = [];
  const src = path.join(ctx.work, 'tus-src.bin');
  const tusDir = path.join(ctx.work, 'tus-ref');
  const clean = async () => {
    rmSync(tusDir, { recursive: true, force: true });
    mkdirSync(tusDir, { recursive: true });
    await runCmd('sync', []);
  };
  try {
    makeFile(src, size);
    await clean();
    const ours = await startServer(ctx, { caseName: name, name: 'tus' });
    stoppers.push(ours);
    const ref = await startRef(ctx, 'tus-server.mjs', { caseName: name, name: 'tus-ref', env: { DIR: tusDir } });
    stoppers.push(ref);
    // The ceiling: the same client into a tus server that drops the bytes (refs/tus-sink.mjs).
    const sink = await startRef(ctx, 'tus-sink.mjs', { caseName: name, name: 'tus-sink' });
    stoppers.push(sink);
    const tus = await tusClient();
    const token = await ours.token('bench-tus');
    await warm(src);
    const upload = (endpoint, opts) => {
      const t0 = process.hrtime.bigint();
      return new Promise((resolve, reject) => {
        const up = new tus.Upload(createReadStream(src), { endpoint, uploadSize: size, retryDelays: null, metadata: { filename: 'tus.bin' }, ...opts, onSuccess: () => resolve(mbps(size, Number(process.hrtime.bigint() - t0) / 1e9)), onError: reject });
        up.start();
      });
    };
    const oursOpts = { headers: { Authorization: `Bearer ${token}` } };
    // What the completion costs (issue 18: on disk the parts are copied into the file and
    // hashed again): all but the last byte in one chunked PATCH, then the seconds of a PATCH
    // of that byte — the last part (its 8 MiB tail read back and written) and the completion.
    const completion = async () => {
      const h = { ...oursOpts.headers, 'Tus-Resumable': '1.0.0' };
      const created = await fetch(`${ours.url}/v1/tus/`, { method: 'POST', headers: { ...h, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from('tus.bin').toString('base64')}` } });
      const url = created.headers.get('location');
      const patch = (offset, body) => fetch(url, { method: 'PATCH', headers: { ...h, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, body, duplex: 'half' });
      const most = await patch(0, Readable.toWeb(createReadStream(src, { end: size - 2 })));
      if (most.status !== 204) throw new Error(`PATCH ${most.status}`);
      const t0 = process.hrtime.bigint();
      const last = await patch(size - 1, Readable.toWeb(createReadStream(src, { start: size - 1 })));
      if (last.status !== 204) throw new Error(`last PATCH ${last.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const removeOurs = async () => {
      const list = await fetch(`${ours.url}/v1/files/all?limit=100`, { headers: oursOpts.headers }).then((r) => r.json());
      for (const f of list.files) {
        if (f.size !== size) throw new Error(`ours stored ${f.size} bytes`);
        await ours.remove(token, f.key);
      }
    };
    const checkRef = () => {
      const stored = statSync(path.join(tusDir, readdirSync(tusDir).find((f) => !f.endsWith('.json')))).size;
      if (stored !== size) throw new Error(`@tus/server stored ${stored} bytes`);
    };
    const t = { sinkOne: [], sinkChunks: [], oursOne: [], refOne: [], oursChunks: [], refChunks: [], oursParallel: [], completion: [], oursCpu: [], refCpu: [] };
    // The server's CPU seconds for an upload: what the other work on a shared machine sways least.
    const withCpu = async (pid, into, fn) => {
      const c0 = cpuSeconds(pid);
      const result = await fn();
      into.push(cpuSeconds(pid) - c0);
      return result;
    };
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      t.sinkOne.push(await upload(`${sink.url}/files`, {}));
      t.sinkChunks.push(await upload(`${sink.url}/files`, { chunkSize: CHUNK }));
      t.oursOne.push(await withCpu(ours.pid, t.oursCpu, () => upload(`${ours.url}/v1/tus/`, oursOpts)));
      await removeOurs();
      t.completion.push(await completion());
      await removeOurs();
      await clean();
      t.refOne.push(await withCpu(ref.pid, t.refCpu, () => upload(`${ref.url}/files`, {})));
      checkRef();
      await clean();
      t.oursChunks.push(await upload(`${ours.url}/v1/tus/`, { ...oursOpts, chunkSize: CHUNK }));
      await removeOurs();
      await clean();
      t.refChunks.push(await upload(`${ref.url}/files`, { chunkSize: CHUNK }));
      checkRef();
      await clean();
      t.oursParallel.push(await upload(`${ours.url}/v1/tus/`, { ...oursOpts, parallelUploads: 4, uploadSize: null }));
      await removeOurs();
      await clean();
      ctx.log(`  tus rep ${rep + 1}/${reps}: one PATCH ours ${t.oursOne.at(-1).toFixed(0)} (CPU ${t.oursCpu.at(-1).toFixed(2)} s; last byte to the record ${t.completion.at(-1).toFixed(2)} s) vs ${t.refOne.at(-1).toFixed(0)} (CPU ${t.refCpu.at(-1).toFixed(2)} s); 8 MiB chunks ours ${t.oursChunks.at(-1).toFixed(0)} vs ${t.refChunks.at(-1).toFixed(0)}; parallel ×4 ours ${t.oursParallel.at(-1).toFixed(0)} MB/s; into the sink ${t.sinkOne.at(-1).toFixed(0)} / ${t.sinkChunks.at(-1).toFixed(0)} MB/s`);
    }
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
    const label = sizeLabel(size);
    const ceiling = (runs, sinkRate, refRate) => `runs: ${runs.map((x) => x.toFixed(0)).join(', ')}; 1.5× @tus/server would be ${(1.5 * refRate).toFixed(0)} MB/s = ${((1.5 * refRate) / sinkRate).toFixed(2)}× this ceiling`;
    return [
      info(name, `ceiling: tus-js-client one PATCH into a server that drops the bytes, ${label}`, m.sinkOne, 'MB/s', { detail: ceiling(t.sinkOne, m.sinkOne, m.refOne) }),
      info(name, `ceiling: tus-js-client 8 MiB chunks into a server that drops the bytes, ${label}`, m.sinkChunks, 'MB/s', { detail: ceiling(t.sinkChunks, m.sinkChunks, m.refChunks) }),
      info(name, `@tus/server + @tus/file-store, tus-js-client one PATCH, ${label}`, m.refOne, 'MB/s', { detail: `runs: ${t.refOne.map((x) => x.toFixed(0)).join(', ')}` }),
      ratioRow(name, `/v1/tus/, tus-js-client one PATCH, to the file record, ${label}`, m.oursOne, 'MB/s', '@tus/server', m.refOne, 1.5, { runs: [t.oursOne, t.refOne] }),
      info(name, `server CPU for one PATCH of ${label}: ours (to the file record) / @tus/server`, m.oursCpu, 's', { detail: `@tus/server ${m.refCpu.toFixed(2)} s; runs ours ${t.oursCpu.map((x) => x.toFixed(2)).join(', ')}` }),
      info(name, `/v1/tus/: a PATCH of the last byte (last part + completion), ${label}`, m.completion, 's', { detail: `runs: ${t.completion.map((x) => x.toFixed(2)).join(', ')}` }),
      info(name, `@tus/server + @tus/file-store, tus-js-client 8 MiB chunks, ${label}`, m.refChunks, 'MB/s', { detail: `runs: ${t.refChunks.map((x) => x.toFixed(0)).join(', ')}` }),
      ratioRow(name, `/v1/tus/, tus-js-client 8 MiB chunks, to the file record, ${label}`, m.oursChunks, 'MB/s', '@tus/server', m.refChunks, 1.5, { runs: [t.oursChunks, t.refChunks] }),
      info(name, `/v1/tus/, tus-js-client parallelUploads 4 (concatenation), ${label}`, m.oursParallel, 'MB/s', { detail: `runs: ${t.oursParallel.map((x) => x.toFixed(0)).join(', ')}` }),
    ];
  } finally {
    for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
    rmSync(src, { force: true });
  }
}
