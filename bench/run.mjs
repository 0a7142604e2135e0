#!/usr/bin/env node
// Stream-Line benchmark suite (issue 6). Run with `npm run bench` (builds dist/ first).
//
//   npm run bench -- [--quick] [--only=download,zip] [--reps=N] [--profile[=case,case]] [--wait-quiet[=20]] [--keep]
//
// Starts the production build (`node dist/main.js`, NODE_ENV=production) and reference servers
// on loopback ports, measures each case side by side, prints a markdown table and writes
// bench/results/latest.md and latest.json. Everything runs inside one temporary work dir
// (under os.tmpdir()), removed at the end unless --keep.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuBusy, GiB, MiB, sizeLabel, waitForQuiet } from './lib/measure.mjs';
import { nginxVersion } from './lib/nginx.mjs';
import { run as runCmd, stopAll } from './lib/proc.mjs';
import { formatSummary, profilesIn, summarize } from './lib/profile.mjs';
import { errorRow, markdownTable } from './lib/report.mjs';
import { startPostgres } from './lib/postgres.mjs';
import { startS3 } from './lib/s3.mjs';
import { BENCH_DIR, pinBuild, REPO_DIR } from './lib/server.mjs';

const CASES = ['download', 'upload', 'rss', 'small-gets', 'listing', 'zip', 'concurrent-uploads', 'guard', 'round-trips', 'scale-out', 's3', 'tus', 'sdk', 'web'];

function parseArgs(argv) {
  const opts = { quick: false, only: null, reps: null, profile: null, keep: false, waitQuiet: null };
  for (const a of argv) {
    if (a === '--quick') opts.quick = true;
    else if (a === '--keep') opts.keep = true;
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
    else if (a.startsWith('--reps=')) opts.reps = Math.max(1, Math.min(50, Number(a.slice(7)) || 1));
    else if (a === '--profile') opts.profile = 'all';
    else if (a === '--wait-quiet') opts.waitQuiet = 0.2;
    else if (a.startsWith('--wait-quiet=')) opts.waitQuiet = Math.max(0.01, Math.min(1, Number(a.slice(13)) / 100 || 0.2));
    else if (a.startsWith('--profile=')) opts.profile = a.slice(10).split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--quick] [--only=case,...] [--reps=N] [--profile[=case,...]] [--wait-quiet[=percent]] [--keep]\ncases: ' + CASES.join(', '));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  const unknown = (opts.only ?? []).filter((c) => !CASES.includes(c));
  if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(', ')}; known: ${CASES.join(', ')}`);
  return opts;
}

async function tool(cmd, args = ['--version']) {
  const r = await runCmd(cmd, args).catch(() => null);
  return r && r.code === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : null;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(REPO_DIR, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `npm run build` (npm run bench does)');
  const work = mkdtempSync(path.join(os.tmpdir(), 'sl-bench-'));
  // The PostgreSQL cluster, started by the first case that needs it and removed at the end.
  let postgres = null;
  let pgInfo = null;
  const stopPostgres = async () => {
    const pgc = await postgres?.catch(() => null);
    postgres = null;
    await pgc?.stop();
  };
  // The S3 server (OpenStack Swift, lib/s3.mjs), likewise started on first use.
  let s3 = null;
  let s3Info = null;
  const stopS3 = async () => {
    const s = await s3?.catch(() => null);
    s3 = null;
    await s?.stop();
  };
  const resultsDir = path.join(BENCH_DIR, 'results');
  const profileRoot = path.join(resultsDir, 'profiles');
  const profiling = (c) => opts.profile === 'all' || (Array.isArray(opts.profile) && opts.profile.includes(c));
  if (opts.profile) rmSync(profileRoot, { recursive: true, force: true });

  const ctx = {
    work,
    appDir: pinBuild(work),
    quick: opts.quick,
    sizes: opts.quick
      ? { big: 256 * MiB, rss: [100 * MiB, 512 * MiB], listingFiles: 10_000, zipCount: 10, zipEach: 25 * MiB, concurrent: 200, concurrentSize: MiB, loadSeconds: 3 }
      : { big: GiB, rss: [100 * MiB, 2 * GiB], listingFiles: 100_000, zipCount: 10, zipEach: 100 * MiB, concurrent: 200, concurrentSize: MiB, loadSeconds: 10 },
    reps: (fallback) => opts.reps ?? fallback,
    secrets: {
      serviceToken: `svc-${randomBytes(24).toString('hex')}`,
      signingKey: `sig-${randomBytes(24).toString('hex')}`,
      keysSecret: `keys-${randomBytes(24).toString('hex')}`,
    },
    /** The run's PostgreSQL cluster (lib/postgres.mjs), started on first use. */
    postgres: () =>
      (postgres ??= startPostgres({ log: (m) => console.log(m) }).then((c) => {
        pgInfo = { version: c.version, maxConnections: c.maxConnections, settings: 'fsync on, synchronous_commit off, pg_stat_statements' };
        return c;
      })),
    /**
     * The server environment for one engine: SQLite (the default, a file in the server's root)
     * or a new PostgreSQL database of its own (with the secrets PostgreSQL requires).
     * Returns { engine, env, db? }.
     */
    async database(engine, label) {
      if (engine === 'sqlite') return { engine, env: {} };
      const pgc = await ctx.postgres();
      const db = await pgc.createDatabase(label);
      return { engine, db, env: { DATABASE_URL: db.url, AUTH_KEYS_SECRET: ctx.secrets.keysSecret } };
    },
    /** The run's S3 server (lib/s3.mjs), started on first use: { settings, env(prefix), stop() }. */
    s3: () =>
      (s3 ??= startS3({ log: (m) => console.log(m) }).then((s) => {
        s3Info = { version: s.version };
        return s;
      })),
    engines: ['sqlite', 'postgres'],
    profileDirFor: (caseName) => (profiling(caseName) ? path.join(profileRoot, caseName) : null),
    log: (msg) => console.log(msg),
    /** Called by cases before each repetition: with --wait-quiet, waits (≤ 60 s) for other processes to calm down. */
    beforeRep: async () => {
      if (!opts.waitQuiet) return;
      const busy = await waitForQuiet({ threshold: opts.waitQuiet, maxMs: 60_000 });
      if (busy >= opts.waitQuiet) console.log(`  (still ${(busy * 100).toFixed(0)}% CPU used by other processes; going on)`);
    },
  };

  let interrupted = false;
  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping servers and removing ${work}`);
    stopAll().then(stopPostgres).then(stopS3).finally(() => {
      if (!opts.keep) rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const meta = {
    date: new Date().toISOString(),
    quick: opts.quick,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / GiB),
    nginx: await nginxVersion(),
    wrk: (await tool('sh', ['-c', 'command -v wrk'])) ? 'wrk' : 'autocannon (wrk not installed)',
    zip: await tool('zip', ['-v']).then((v) => v?.replace(/^Copyright.*?\n/, '') ?? null),
    sizes: Object.fromEntries(Object.entries(ctx.sizes).map(([k, v]) => [k, Array.isArray(v) ? v.map(sizeLabel) : k.endsWith('Files') || k === 'concurrent' || k === 'loadSeconds' || k === 'zipCount' ? v : sizeLabel(v)])),
    commit: (await runCmd('git', ['-C', REPO_DIR, 'rev-parse', '--short', 'HEAD']).catch(() => ({ stdout: '?' }))).stdout.trim(),
    dirtyFiles: (await runCmd('git', ['-C', REPO_DIR, 'status', '--porcelain', '--', 'src']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean).length,
    loadBefore: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    work,
  };
  console.log(`Stream-Line bench ${opts.quick ? '(quick) ' : ''}— node ${meta.node}, ${meta.cpus} CPUs, nginx ${meta.nginx}, load tool ${meta.wrk}; load average ${meta.loadBefore}; work dir ${work}`);

  const rows = [];
  const extra = {}; // per-case details too long for the table (statement breakdowns), kept in the JSON
  ctx.keep = (caseName, data) => {
    extra[caseName] = data;
  };
  const profiles = {};
  const timings = {};
  const busyBefore = {}; // % CPU used by other processes just before each case: it lowers every figure
  try {
    for (const caseName of opts.only ?? CASES) {
      console.log(`\n## ${caseName}`);
      // Other processes' CPU use before the case (the bench runs nothing now); --wait-quiet waits for it to drop.
      busyBefore[caseName] = Math.round(100 * (opts.waitQuiet ? await waitForQuiet({ threshold: opts.waitQuiet, log: ctx.log }) : await cpuBusy()));
      console.log(`  other processes: ${busyBefore[caseName]}% CPU`);
      const t0 = Date.now();
      let caseRows;
      try {
        const mod = await import(`./cases/${caseName}.mjs`);
        caseRows = await mod.run(ctx);
      } catch (err) {
        console.error(`  ${caseName} failed: ${err.stack ?? err}`);
        caseRows = [errorRow(caseName, err)];
      } finally {
        await stopAll(); // anything a failed case left running
      }
      timings[caseName] = Math.round((Date.now() - t0) / 1000);
      console.log(markdownTable(caseRows));
      rows.push(...caseRows);
      const dir = ctx.profileDirFor(caseName);
      if (dir && existsSync(dir)) {
        profiles[caseName] = profilesIn(dir).map((f) => summarize(f, 15));
        for (const s of profiles[caseName]) console.log('\n' + formatSummary({ ...s, file: path.relative(REPO_DIR, s.file) }));
      }
    }
  } finally {
    await stopAll();
    await stopPostgres().catch((err) => console.error(`stopping PostgreSQL: ${err.message}`));
    await stopS3().catch((err) => console.error(`stopping the S3 server: ${err.message}`));
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else console.log(`kept work dir ${work}`);
  }

  const table = markdownTable(rows);
  const misses = rows.filter((r) => r.pass === false).length;
  const passes = rows.filter((r) => r.pass === true).length;
  const md = [
    `# Stream-Line benchmark${opts.quick ? ' (quick)' : ''}`,
    '',
    `Build: dist/ of commit ${meta.commit}${meta.dirtyFiles ? ` plus ${meta.dirtyFiles} uncommitted file(s) under src/` : ''}, copied once at the start.`,
    `${meta.date} — node ${meta.node}, ${meta.cpus} × ${meta.cpuModel}, ${meta.memGiB} GiB RAM, nginx ${meta.nginx}, load: ${meta.wrk}; load average before the run ${meta.loadBefore}.`,
    `Sizes: ${JSON.stringify(meta.sizes)}. Every figure is the median of the runs listed; a Ratio is the median of the per-run ratios (runs of the compared targets alternate); MB = 10^6 bytes.`,
    ...(s3Info ? [`S3: OpenStack Swift ${s3Info.version} with s3api (throwaway, one replica, 2 proxy workers, .ci/start-s3.sh on this machine), reached over loopback by the server and by the AWS SDK alike.`] : []),
    ...(pgInfo ? [`PostgreSQL ${pgInfo.version} (throwaway cluster from .ci/start-postgres.sh on this machine; ${pgInfo.settings}; max_connections ${pgInfo.maxConnections}).`] : []),
    `Seconds per case: ${JSON.stringify(timings)}. CPU used by other processes just before each case (%): ${JSON.stringify(busyBefore)} — work by others on this 2-core machine lowers every figure.`,
    '',
    table,
    '',
    `${passes} targets met, ${misses} missed.`,
    '',
  ].join('\n');
  mkdirSync(resultsDir, { recursive: true });
  // A run of some cases (--only) or a --quick run does not overwrite the last full run's results.
  const base = opts.only || opts.quick ? `partial-${opts.quick ? 'quick-' : ''}${(opts.only ?? ['all']).join('+')}` : 'latest';
  writeFileSync(path.join(resultsDir, `${base}.md`), md);
  writeFileSync(path.join(resultsDir, `${base}.json`), JSON.stringify({ meta: { ...meta, timings, busyBefore, postgres: pgInfo, s3: s3Info }, results: rows, profiles, ...(Object.keys(extra).length ? { extra } : {}) }, null, 2) + '\n');
  console.log(`\n# Summary\n\n${table}\n\n${passes} targets met, ${misses} missed. Written: bench/results/${base}.md, bench/results/${base}.json`);
}

main().catch(async (err) => {
  console.error(err.stack ?? String(err));
  await stopAll();
  process.exit(1);
});
