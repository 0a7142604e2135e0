// Our server (the production build, `node dist/main.js`) and the reference servers under
// bench/refs/, each in its own process on a free loopback port.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { call, pool, request } from './http.mjs';
import { cpuSeconds, curlUpload, MiB, procMemory } from './measure.mjs';
import { freePort, startProcess, waitForHttp } from './proc.mjs';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');

/**
 * Copies dist/ (and package.json) into `<work>/app`, with node_modules linked back to the repo,
 * so that every server of the run starts the same build even if dist/ is rebuilt meanwhile
 * (the test suite rebuilds it). Returns the app dir.
 */
export function pinBuild(work) {
  const app = path.join(work, 'app');
  mkdirSync(app, { recursive: true });
  cpSync(path.join(REPO_DIR, 'dist'), path.join(app, 'dist'), { recursive: true });
  cpSync(path.join(REPO_DIR, 'package.json'), path.join(app, 'package.json'));
  symlinkSync(path.join(REPO_DIR, 'node_modules'), path.join(app, 'node_modules'), 'dir');
  return app;
}

const baseEnv = () => ({ PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' });

export const encodeKey = (key) => key.split('/').map(encodeURIComponent).join('/');

/** Node flags for a server process of `caseName`: `--cpu-prof` into the case's profile dir when profiling. */
function nodeFlags(ctx, caseName, name) {
  const dir = ctx.profileDirFor?.(caseName);
  if (!dir) return [];
  const sub = path.join(dir, name);
  mkdirSync(sub, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', sub];
}

/**
 * Starts `node dist/main.js` with NODE_ENV=production on its own UPLOAD_ROOT (created under
 * the work dir unless given), with the launch settings of the systemd unit and `npm start`
 * (`--max-semi-space-size=2`, MALLOC_ARENA_MAX=2). Returns a handle with API helpers.
 */
export async function startServer(ctx, { caseName, name, root, env = {}, probe = false, entry = path.join(ctx.appDir ?? REPO_DIR, 'dist/main.js') }) {
  root ??= path.join(ctx.work, `${name}-root`);
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  // With `probe`, lib/db-probe.mjs counts every statement the process sends (served on its own port).
  const probePort = probe ? await freePort() : null;
  const probeArgs = probe ? ['--import', pathToFileURL(path.join(BENCH_DIR, 'lib/db-probe.mjs')).href] : [];
  const url = `http://127.0.0.1:${port}`;
  const fullEnv = {
    ...baseEnv(),
    NODE_ENV: 'production',
    AUTH_SERVICE_TOKEN: ctx.secrets.serviceToken,
    UPLOAD_SIGNING_KEY: ctx.secrets.signingKey,
    PASSWORD_ARGON2_MEMORY_KIB: '19456',
    LOG_LEVEL: 'warn',
    UPLOAD_ROOT: root,
    PORT: String(port),
    BIND_HOST: '127.0.0.1',
    PUBLIC_BASE_URL: url,
    ...(probePort ? { BENCH_DB_PROBE_PORT: String(probePort) } : {}),
    // Launched as deploy/upload-server.service and `npm start` launch it (the references keep
    // their defaults); BENCH_SERVER_MALLOC_ARENA_MAX= / BENCH_SERVER_NODE_FLAGS= ('' for none)
    // try other settings.
    ...((process.env.BENCH_SERVER_MALLOC_ARENA_MAX ?? '2') ? { MALLOC_ARENA_MAX: process.env.BENCH_SERVER_MALLOC_ARENA_MAX ?? '2' } : {}),
    // BENCH_SERVER_ENV='STREAM_GC_MB=0 …': server settings to compare (A/B runs).
    ...Object.fromEntries((process.env.BENCH_SERVER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    ...env,
  };
  const launchFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? '--max-semi-space-size=2').split(/\s+/).filter(Boolean);
  const proc = startProcess(process.execPath, [...launchFlags, ...nodeFlags(ctx, caseName, name), ...probeArgs, entry], {
    env: fullEnv,
    cwd: REPO_DIR,
    name: `server ${name}`,
    logFile: path.join(ctx.work, `${name}.log`),
  });
  try {
    await waitForHttp(`${url}/healthz`, { proc, timeoutMs: 60_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const svc = { 'x-service-token': ctx.secrets.serviceToken };
  const bearer = (token) => ({ authorization: `Bearer ${token}` });

  const server = {
    name,
    url,
    port,
    root,
    proc,
    pid: proc.pid,
    env: fullEnv,
    memory: () => procMemory(proc.pid),
    /** CPU seconds (user + system) the process has used so far. */
    cpuSeconds: () => cpuSeconds(proc.pid),
    stop: () => proc.stop(),

    /** With `probe`: { transactions, statements: [{ sql, calls, ms, written, locked, errors }] } since the last reset. */
    async dbStats() {
      return (await request('GET', `http://127.0.0.1:${probePort}/`)).json();
    },
    async dbReset() {
      await request('POST', `http://127.0.0.1:${probePort}/reset`);
    },

    /** A user access token minted with the service token (role operator). */
    async token(userId, hours = 6) {
      const r = await call('POST', `${url}/v1/files/generate-token`, { headers: svc, body: { user_id: userId, expires_hours: hours } });
      return r.token;
    },

    /**
     * One file as one part: init (untimed), PUT through curl (timed by curl), complete.
     * Returns { record, putSpeed (B/s), putSeconds, totalSeconds }.
     */
    async uploadSingle(token, file, { name: filename = path.basename(file), folder } = {}) {
      const size = statSync(file).size;
      const t0 = process.hrtime.bigint();
      const init = await call('POST', `${url}/v1/files/init`, {
        headers: bearer(token),
        body: { mode: 'single', files: [{ name: filename, size, mime: 'application/octet-stream' }], ...(folder ? { folder } : {}) },
      });
      const id = init.uploadId;
      const answer = path.join(ctx.work, `answer-${randomBytes(4).toString('hex')}.json`);
      const put = await curlUpload(`${url}/v1/files/part?uploadId=${id}&partNumber=1`, file, { headers: bearer(token), bodyTo: answer });
      if (put.status !== 200) throw new Error(`PUT part → ${put.status}: ${readAnswer(answer)}`);
      const record = await call('POST', `${url}/v1/files/complete`, { headers: bearer(token), body: { uploadId: id } });
      const totalSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return { record, putSpeed: put.speedUp, putSeconds: put.seconds, totalSeconds };
    },

    /**
     * Chunked: init with `partSize`, PUT the parts `concurrency` at a time (node:http, bodies
     * streamed from the file), complete. Returns { record, partsSeconds, totalSeconds }.
     */
    async uploadChunked(token, file, { partSize = 8 * MiB, concurrency = 4, name: filename = path.basename(file) } = {}) {
      const size = statSync(file).size;
      const t0 = process.hrtime.bigint();
      const init = await call('POST', `${url}/v1/files/init`, {
        headers: bearer(token),
        body: { mode: 'chunked', partSize, files: [{ name: filename, size, mime: 'application/octet-stream' }] },
      });
      const up = init.uploads[0];
      const t1 = process.hrtime.bigint();
      await pool(up.partCount, concurrency, async (i) => {
        const start = i * up.partSize;
        const end = Math.min(size, start + up.partSize) - 1;
        const res = await request('PUT', `${url}/v1/files/part?uploadId=${up.uploadId}&partNumber=${i + 1}`, {
          headers: bearer(token),
          body: { file, start, end },
        });
        if (res.status !== 200) throw new Error(`PUT part ${i + 1} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
      });
      const t2 = process.hrtime.bigint();
      const record = await call('POST', `${url}/v1/files/complete`, { headers: bearer(token), body: { uploadId: up.uploadId } });
      const t3 = process.hrtime.bigint();
      return { record, partsSeconds: Number(t2 - t1) / 1e9, totalSeconds: Number(t3 - t0) / 1e9, completeSeconds: Number(t3 - t2) / 1e9 };
    },

    async remove(token, key) {
      await call('DELETE', `${url}/v1/files/${encodeKey(key)}`, { headers: bearer(token) });
    },

    async signedUrl(token, key, expiresIn = 3600) {
      const r = await call('GET', `${url}/v1/files/signed-url?key=${encodeURIComponent(key)}&expires_in=${expiresIn}`, { headers: bearer(token) });
      return r.url;
    },

    storageUrl: (key) => `${url}/${encodeKey(key)}`,
  };
  return server;
}

function readAnswer(file) {
  try {
    return readFileSync(file, 'utf8').slice(0, 500);
  } catch {
    return '(no body)';
  }
}

/** Starts one of bench/refs/*.mjs (`ROOT`, `PORT` in its env); it answers GET /__ready. */
export async function startRef(ctx, script, { caseName, name = script.replace(/\.mjs$/, ''), env = {} } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess(process.execPath, [...nodeFlags(ctx, caseName, name), path.join(BENCH_DIR, 'refs', script)], {
    env: { ...baseEnv(), NODE_ENV: 'production', PORT: String(port), ...env },
    cwd: REPO_DIR,
    name,
    logFile: path.join(ctx.work, `${name}.log`),
  });
  try {
    await waitForHttp(`${url}/__ready`, { proc, timeoutMs: 30_000 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { name, url, port, proc, pid: proc.pid, memory: () => procMemory(proc.pid), stop: () => proc.stop() };
}
