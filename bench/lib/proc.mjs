// Child processes: every server, nginx and tool the bench starts goes through here, so that
// `stopAll()` (called from run.mjs's finally and on SIGINT/SIGTERM) can stop each one by pid.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';

const live = new Set();

/**
 * Starts a long-running process (server, nginx). Output goes to `logFile` (if given); the
 * last few KiB of stderr are kept for error messages.
 */
export function startProcess(cmd, args, { env, cwd, name = cmd, logFile } = {}) {
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  let tail = '';
  const keep = (chunk) => {
    tail = (tail + chunk.toString('utf8')).slice(-4096);
    log?.write(chunk);
  };
  child.stdout.on('data', (c) => log?.write(c));
  child.stderr.on('data', keep);
  let exitCode = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal;
      live.delete(proc);
      log?.end();
      resolve(exitCode);
    });
    child.once('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      exitCode = 'error';
      live.delete(proc);
      resolve('error');
    });
  });
  const proc = {
    name,
    child,
    pid: child.pid,
    exited,
    get running() {
      return exitCode === null;
    },
    get stderrTail() {
      return tail;
    },
    /** SIGTERM (a graceful stop writes --cpu-prof profiles), SIGKILL after `graceMs`. */
    async stop(graceMs = 20_000) {
      if (exitCode !== null) return exitCode;
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  live.add(proc);
  return proc;
}

/** Stops every process still running (each by its own pid). */
export async function stopAll() {
  await Promise.all([...live].map((p) => p.stop(5000).catch(() => undefined)));
}

/** Runs a command to completion; resolves { code, stdout, stderr, seconds }. Never rejects on a non-zero exit. */
export function run(cmd, args, { env, cwd, timeoutMs = 30 * 60_000, stdoutTo } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', stdoutTo ?? 'pipe', 'pipe'] });
    const proc = { name: cmd, pid: child.pid, stop: async () => child.kill('SIGKILL') };
    live.add(proc);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c) => {
      if (stdout.length < 1 << 20) stdout += c;
    });
    child.stderr.on('data', (c) => {
      if (stderr.length < 1 << 16) stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(proc);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(proc);
      resolve({ code: code ?? signal, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** Like run(), but throws unless the exit code is 0. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-800)}`);
  return r;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `url` until it answers 2xx; bounded by `timeoutMs`; fails early if `proc` exits. */
export async function waitForHttp(url, { timeoutMs = 30_000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (proc && !proc.running) throw new Error(`${proc.name} exited (${await proc.exited}) before answering ${url}: ${proc.stderrTail.trim().slice(-1500)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})${proc ? `; stderr: ${proc.stderrTail.trim().slice(-1500)}` : ''}`);
}
