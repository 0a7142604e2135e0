// Timing tools: medians and percentiles, curl transfers, wrk/autocannon load, /proc memory,
// test-file creation.
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { run } from './proc.mjs';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = Math.min(v.length, Math.max(1, Math.ceil((p / 100) * v.length)));
  return v[rank - 1];
}

export const mbps = (bytes, seconds) => bytes / seconds / 1e6;
export const round = (x, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
export const sizeLabel = (bytes) => (bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${round(bytes / MiB, 0)} MiB`);

/** Writes `bytes` of incompressible data (one random 16 MiB block, repeated, with a counter stamped in each copy). */
export function makeFile(path, bytes) {
  const block = Buffer.allocUnsafe(Math.min(16 * MiB, Math.max(bytes, 1)));
  randomFillSync(block);
  const fd = openSync(path, 'w');
  try {
    let left = bytes;
    for (let i = 0; left > 0 && i < 1_000_000; i++) {
      block.writeUInt32LE(i, 0);
      const n = Math.min(left, block.length);
      writeSync(fd, block, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a file once so later runs start from the page cache (like a busy server's hot files). */
export async function warm(path) {
  await run('sh', ['-c', 'cat "$1" > /dev/null', 'sh', path]);
}

const CURL_FMT = '%{http_code} %{size_download} %{size_upload} %{speed_download} %{speed_upload} %{time_total}';

function parseCurl(r, what) {
  const [code, down, up, speedDown, speedUp, total] = r.stdout.trim().split(/\s+/);
  if (r.code !== 0) throw new Error(`curl ${what} failed (exit ${r.code}): ${r.stderr.trim().slice(-400)}`);
  return {
    status: Number(code),
    bytesDown: Number(down),
    bytesUp: Number(up),
    speedDown: Number(speedDown),
    speedUp: Number(speedUp),
    seconds: Number(total),
  };
}

const headerArgs = (headers = {}) => Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);

/** GET `url` into /dev/null; returns status, bytes, seconds and bytes/s as curl measured them. */
export async function curlDownload(url, { headers } = {}) {
  const r = await run('curl', ['-s', '-o', '/dev/null', '-w', CURL_FMT, ...headerArgs(headers), url]);
  return parseCurl(r, `GET ${url}`);
}

/** Uploads the file at `path` as the request body (streamed by curl, `Expect` disabled); `bodyTo` receives the answer. */
export async function curlUpload(url, path, { method = 'PUT', headers, bodyTo = '/dev/null', contentType = 'application/octet-stream' } = {}) {
  const r = await run('curl', [
    '-s', '-o', bodyTo, '-w', CURL_FMT, '-X', method, '-T', path,
    '-H', 'Expect:', '-H', `Content-Type: ${contentType}`, ...headerArgs(headers), url,
  ]);
  return parseCurl(r, `${method} ${url}`);
}

/** VmHWM / VmRSS of a live process, in bytes (null once it is gone). */
export function procMemory(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return null;
  }
}

// Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux build the bench meets.
const CLK_TCK = 100;

/**
 * CPU seconds (user + system) of a process; with `children`, plus what its reaped children
 * used (PostgreSQL's postmaster: backends that exited). NaN once it is gone.
 */
export function cpuSeconds(pid, { children = false } = {}) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number);
    return (utime + stime + (children ? cutime + cstime : 0)) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole machine has spent busy (every CPU, every process) since boot, from /proc/stat. */
export function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return (f.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / CLK_TCK;
}

/** CPU seconds of a process and its direct children, live and exited (a PostgreSQL postmaster and its backends). */
export function treeCpuSeconds(pid) {
  let total = cpuSeconds(pid, { children: true });
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) total += cpuSeconds(Number(entry)) || 0;
    } catch {
      /* exited meanwhile: its time is in the parent's cutime now */
    }
  }
  return total;
}

/** Resets a process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`); false if not allowed. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples VmRSS every `everyMs` until stopped; `stop()` returns { maxRss, hwm, samples }. */
export function memorySampler(pid, everyMs = 100) {
  let maxRss = 0;
  let samples = 0;
  const timer = setInterval(() => {
    const m = procMemory(pid);
    if (m) {
      maxRss = Math.max(maxRss, m.rss);
      samples++;
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const m = procMemory(pid);
      return { maxRss: Math.max(maxRss, m?.rss ?? 0), hwm: m?.hwm ?? NaN, samples };
    },
  };
}

let wrkPath;
async function hasWrk() {
  if (wrkPath === undefined) {
    const r = await run('sh', ['-c', 'command -v wrk || true']);
    wrkPath = r.stdout.trim() || null;
  }
  return wrkPath;
}

const toMs = (value, unit) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);

/**
 * Closed-loop load on one URL: wrk (`-t2 -c64 --latency`) when installed, autocannon otherwise
 * (autocannon shares the bench's event loop and saturates first on 2 cores).
 * Returns { tool, rps, p50, p99 (ms), requests, errors }.
 */
export async function load(url, { headers = {}, seconds = 10, connections = 64, threads = 2 } = {}) {
  if (await hasWrk()) {
    const r = await run(wrkPath, [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...headerArgs(headers), url], {
      timeoutMs: (seconds + 60) * 1000,
    });
    if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
    const out = r.stdout;
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const lat = (p) => {
      const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
      return m ? toMs(m[1], m[2]) : NaN;
    };
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
    return { tool: 'wrk', rps, p50: lat(50), p99: lat(99), requests, errors };
  }
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({ url, headers, connections, duration: seconds });
  return {
    tool: 'autocannon',
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.non2xx + result.timeouts,
  };
}

/** Fraction (0..1) of all CPUs busy over `ms`, from /proc/stat (everything on the machine). */
export async function cpuBusy(ms = 2000) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/**
 * Waits (at most `maxMs`) until the machine is quiet: CPU busy below `threshold` over a 2 s window
 * while the bench itself runs nothing. Returns the last busy fraction seen.
 */
export async function waitForQuiet({ threshold = 0.2, maxMs = 180_000, log } = {}) {
  const deadline = Date.now() + maxMs;
  let busy = await cpuBusy();
  for (let i = 0; i < 1000 && busy >= threshold && Date.now() < deadline; i++) {
    if (i % 10 === 0) log?.(`  machine busy (${(busy * 100).toFixed(0)}% CPU from other processes): waiting…`);
    busy = await cpuBusy();
  }
  return busy;
}
