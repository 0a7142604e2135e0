// 7. 200 uploads of 1 MiB at once, each init + one PUT part + complete (node:http, an agent
//    allowing 200 sockets): wall time, per-upload latency and errors.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { request } from '../lib/http.mjs';
import { median, percentile } from '../lib/measure.mjs';
import { info, limitRow } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'concurrent-uploads';

export async function run(ctx) {
  const n = ctx.sizes.concurrent;
  const size = ctx.sizes.concurrentSize;
  const reps = ctx.reps(3);
  const server = await startServer(ctx, { caseName: name, name: 'concurrent' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  try {
    const token = await server.token('bench-concurrent');
    const auth = { authorization: `Bearer ${token}` };
    const body = randomBytes(size);
    const errors = [];
    const walls = [];
    const latencies = [];
    const one = async (rep, i) => {
      const t0 = process.hrtime.bigint();
      try {
        const init = await request('POST', `${server.url}/v1/files/init`, {
          headers: auth,
          useAgent: agent,
          body: { mode: 'single', files: [{ name: `c-${rep}-${i}.bin`, size, mime: 'application/octet-stream' }] },
        });
        if (init.status !== 201) throw new Error(`init → ${init.status} ${init.body.toString().slice(0, 200)}`);
        const id = init.json().uploadId;
        const part = await request('PUT', `${server.url}/v1/files/part?uploadId=${id}&partNumber=1`, {
          headers: { ...auth, 'content-type': 'application/octet-stream' },
          useAgent: agent,
          body,
        });
        if (part.status !== 200) throw new Error(`part → ${part.status} ${part.body.toString().slice(0, 200)}`);
        const done = await request('POST', `${server.url}/v1/files/complete`, { headers: auth, useAgent: agent, body: { uploadId: id } });
        if (done.status !== 201) throw new Error(`complete → ${done.status} ${done.body.toString().slice(0, 200)}`);
        if (done.json().size !== size) throw new Error(`stored ${done.json().size} bytes`);
      } catch (err) {
        errors.push(err.message);
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    for (let rep = 0; rep < reps; rep++) {
      await ctx.beforeRep();
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: n }, (_, i) => one(rep, i)));
      walls.push(Number(process.hrtime.bigint() - t0) / 1e6);
      ctx.log(`  ${n} concurrent uploads, rep ${rep + 1}/${reps}: ${walls.at(-1).toFixed(0)} ms, errors so far ${errors.length}`);
    }
    const listed = await request('GET', `${server.url}/v1/files/all?limit=1`, { headers: auth });
    const stored = listed.status === 200 ? listed.json().total_count : NaN;
    const kinds = [...new Set(errors)].slice(0, 3).join(' | ');
    return [
      info(name, `${n} × ${size / 1048576} MiB at once (init+part+complete): wall time`, median(walls), 'ms', {
        detail: `runs: ${walls.map((x) => x.toFixed(0)).join(', ')} ms; per upload p50 ${median(latencies).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; ${(n * size / 1e6 / (median(walls) / 1000)).toFixed(0)} MB/s`,
      }),
      limitRow(name, `${n} concurrent uploads: errors (of ${n * reps})`, errors.length, 'errors', 1, {
        target: '0 errors',
        detail: `${stored} files listed afterwards${kinds ? `; ${kinds}` : ''}`,
      }),
    ];
  } finally {
    agent.destroy();
    await server.stop();
  }
}
