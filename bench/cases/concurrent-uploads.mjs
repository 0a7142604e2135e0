// 7. 200 uploads of 1 MiB at once, each init + one PUT part + complete (node:http, an agent
//    allowing 200 sockets): wall time, per-upload latency and errors, on SQLite and on
//    PostgreSQL (a database of its own). Both servers run side by side; the rounds alternate
//    between them, and PostgreSQL's wall time is given as a ratio to SQLite's of the same run.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { request } from '../lib/http.mjs';
import { median, percentile, round } from '../lib/measure.mjs';
import { info, limitRow, pairedRatio } from '../lib/report.mjs';
import { startServer } from '../lib/server.mjs';

export const name = 'concurrent-uploads';

const LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

async function startTarget(ctx, engine, n) {
  const { env } = await ctx.database(engine, 'concurrent');
  const server = await startServer(ctx, { caseName: name, name: `concurrent-${engine}`, env });
  const token = await server.token('bench-concurrent');
  return {
    engine,
    server,
    auth: { authorization: `Bearer ${token}` },
    agent: new http.Agent({ keepAlive: true, maxSockets: n }),
    errors: [],
    walls: [],
    latencies: [],
  };
}

async function oneUpload(t, tag, body) {
  const { server, auth, agent } = t;
  const size = body.length;
  const t0 = process.hrtime.bigint();
  try {
    const init = await request('POST', `${server.url}/v1/files/init`, {
      headers: auth,
      useAgent: agent,
      body: { mode: 'single', files: [{ name: `c-${tag}.bin`, size, mime: 'application/octet-stream' }] },
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
    t.errors.push(err.message);
  }
  t.latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
}

export async function run(ctx) {
  const n = ctx.sizes.concurrent;
  const size = ctx.sizes.concurrentSize;
  const reps = ctx.reps(3);
  const targets = [];
  try {
    for (const engine of ctx.engines) targets.push(await startTarget(ctx, engine, n));
    const body = randomBytes(size);
    for (let rep = 0; rep < reps; rep++) {
      for (const t of targets) {
        await ctx.beforeRep();
        // A fresh agent each round: a socket idle through the other engine's round (and a
        // --wait-quiet pause) may have been closed by the server just as the client reuses it.
        t.agent.destroy();
        t.agent = new http.Agent({ keepAlive: true, maxSockets: n });
        const t0 = process.hrtime.bigint();
        await Promise.all(Array.from({ length: n }, (_, i) => oneUpload(t, `${rep}-${i}`, body)));
        t.walls.push(Number(process.hrtime.bigint() - t0) / 1e6);
        ctx.log(`  ${LABEL[t.engine]}: ${n} concurrent uploads, rep ${rep + 1}/${reps}: ${t.walls.at(-1).toFixed(0)} ms, errors so far ${t.errors.length}`);
      }
    }
    const rows = [];
    const ref = targets.find((t) => t.engine === 'sqlite');
    for (const t of targets) {
      const listed = await request('GET', `${t.server.url}/v1/files/all?limit=1`, { headers: t.auth });
      const stored = listed.status === 200 ? listed.json().total_count : NaN;
      const kinds = [...new Set(t.errors)].slice(0, 3).join(' | ');
      const wall = median(t.walls);
      const detail = `runs: ${t.walls.map((x) => x.toFixed(0)).join(', ')} ms; per upload p50 ${median(t.latencies).toFixed(0)} ms, p99 ${percentile(t.latencies, 99).toFixed(0)} ms; ${((n * size) / 1e6 / (wall / 1000)).toFixed(0)} MB/s, ${((n * 1000) / wall).toFixed(0)} uploads/s`;
      const what = `${LABEL[t.engine]}: ${n} × ${size / 1048576} MiB at once (init+part+complete): wall time`;
      rows.push(
        t === ref
          ? info(name, what, wall, 'ms', { detail })
          : { ...info(name, what, wall, 'ms', { detail }), reference: 'SQLite', refValue: round(median(ref.walls), 1), ratio: Number(pairedRatio(t.walls, ref.walls).toFixed(3)) },
      );
      rows.push(
        limitRow(name, `${LABEL[t.engine]}: ${n} concurrent uploads: errors (of ${n * reps})`, t.errors.length, 'errors', 1, {
          target: '0 errors',
          detail: `${stored} files listed afterwards${kinds ? `; ${kinds}` : ''}`,
        }),
      );
    }
    return rows;
  } finally {
    for (const t of targets) {
      t.agent.destroy();
      await t.server.stop();
    }
  }
}
