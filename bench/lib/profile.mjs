// Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time per function.
// CLI: node bench/lib/profile.mjs <file-or-dir>... [--top=20]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const shortUrl = (url) => {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const dist = u.indexOf('/dist/');
  if (dist >= 0) return u.slice(dist + 1);
  return u.startsWith('node:') ? u : path.basename(u);
};

/** { totalMs, top: [{ fn, where, selfMs, pct }] } for one profile. */
export function summarize(file, top = 20) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const node = byId.get(prof.samples[i]);
    if (!node) continue;
    const cf = node.callFrame;
    const fn = cf.functionName || '(anonymous)';
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${fn}\u0000${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const rows = [...self.entries()]
    .map(([k, ms]) => {
      const [fn, where] = k.split('\u0000');
      return { fn, where, selfMs: Math.round(ms), pct: Math.round((ms / total) * 1000) / 10 };
    })
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top);
  return { file, totalMs: Math.round(total), top: rows };
}

export function profilesIn(target) {
  if (!statSync(target).isDirectory()) return [target];
  const out = [];
  for (const entry of readdirSync(target, { withFileTypes: true })) {
    const p = path.join(target, entry.name);
    if (entry.isDirectory()) out.push(...profilesIn(p));
    else if (entry.name.endsWith('.cpuprofile')) out.push(p);
  }
  return out;
}

export function formatSummary(s) {
  const lines = [`${s.file} (${s.totalMs} ms sampled)`];
  for (const r of s.top) lines.push(`  ${String(r.pct).padStart(5)}%  ${String(r.selfMs).padStart(7)} ms  ${r.fn}  ${r.where}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 20);
  for (const arg of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
    for (const f of profilesIn(arg)) console.log(formatSummary(summarize(f, top)) + '\n');
  }
}
