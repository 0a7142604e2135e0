/**
 * Builds the web app into dist/webapp/: web/src/main.ts(x) bundled by esbuild (TypeScript,
 * JSX per web/tsconfig.json, the SDK from src/client/ pulled in by relative import), emitted
 * as assets/<name>.<hash>.js|css (with .gz and .br copies), and index.html from web/index.html
 * with tags for them.
 *
 * Output goes to dist/webapp/ (not dist/web/, where tsc puts src/web/'s plugin). The tree is
 * built in a fresh directory and swapped in whole, so a running server never serves an
 * index.html that names assets not yet written.
 *
 * Run by `npm run build` and the test global setup. `node web/build.mjs --quiet` prints nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib, { brotliCompressSync, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : path.resolve(process.argv[i + 1]);
};
// --out and --entry: another place or entry (a test's fixture page); defaults are the app's.
const outDir = arg('--out') ?? path.join(root, 'dist', 'webapp');
const quiet = process.argv.includes('--quiet');

const entry = arg('--entry') ?? ['main.tsx', 'main.ts'].map((f) => path.join(root, 'web', 'src', f)).find((f) => existsSync(f));
if (!entry) throw new Error('web/src/main.ts(x) not found');

const staging = `${outDir}.tmp-${process.pid}`;
// Leftovers of a build that died half-way (a failed build leaves the previous one in place); a build running now (tests and `npm run build` may
// overlap) keeps its own.
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};
for (const name of existsSync(path.dirname(outDir)) ? readdirSync(path.dirname(outDir)) : []) {
  const pid = new RegExp(`^${path.basename(outDir)}\\.tmp-(\\d+)$`).exec(name)?.[1];
  if (pid && !alive(Number(pid))) rmSync(path.join(path.dirname(outDir), name), { recursive: true, force: true });
}
const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  // Content hashes in every name: the server may then cache them for a year (immutable).
  entryNames: '[name].[hash]',
  chunkNames: '[name].[hash]',
  assetNames: '[name].[hash]',
  outdir: path.join(staging, 'assets'),
  metafile: true,
  legalComments: 'none',
  tsconfig: path.join(root, 'web', 'tsconfig.json'),
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});

// The entry's own outputs: its script and (if it imports CSS) its stylesheet.
const outputs = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint !== undefined);
const href = (file) => `/assets/${path.basename(file)}`;
const scripts = outputs.filter(([f]) => f.endsWith('.js')).map(([f]) => f);
const styles = outputs.flatMap(([f, o]) => [f.endsWith('.css') ? f : null, o.cssBundle ?? null]).filter(Boolean);
const unique = (list) => [...new Set(list)];

// Subresource integrity: a tampered asset (a cache or proxy in between) is refused by the browser.
const sri = (file) => `sha384-${createHash('sha384').update(readFileSync(path.join(root, file))).digest('base64')}`;
const tags = [
  ...unique(styles).map((f) => `<link rel="stylesheet" href="${href(f)}" integrity="${sri(f)}">`),
  ...unique(scripts).map((f) => `<script type="module" src="${href(f)}" integrity="${sri(f)}"></script>`),
].join('\n    ');

const template = readFileSync(path.join(root, 'web', 'index.html'), 'utf8');
const headEnd = template.lastIndexOf('</head>');
if (headEnd < 0) throw new Error('web/index.html has no </head>');
writeFileSync(path.join(staging, 'index.html'), `${template.slice(0, headEnd)}  ${tags}\n  ${template.slice(headEnd)}`);

// Compressed copies made once here, so the server never compresses per request (web-app.ts
// picks one by Accept-Encoding).
for (const f of unique([...scripts, ...styles])) {
  const bytes = readFileSync(path.join(root, f));
  writeFileSync(`${path.join(root, f)}.gz`, gzipSync(bytes, { level: 9 }));
  writeFileSync(`${path.join(root, f)}.br`, brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
}

// Two builds at once write the same files (same sources, same hashes): whichever lands last wins.
for (let attempt = 0; ; attempt++) {
  try {
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
    break;
  } catch (err) {
    if (attempt >= 20 || !['ENOTEMPTY', 'EEXIST', 'ENOENT', 'EBUSY'].includes(err.code)) throw err;
  }
}

if (!quiet) {
  // Page weight as the bench counts it: JS + CSS, gzip.
  let raw = 0;
  let gz = 0;
  for (const f of unique([...scripts, ...styles])) {
    const file = path.join(outDir, 'assets', path.basename(f));
    raw += readFileSync(file).length;
    gz += readFileSync(`${file}.gz`).length;
  }
  console.log(`web app: ${path.relative(root, outDir)}/ (JS+CSS ${(raw / 1024).toFixed(1)} KiB, gzip ${(gz / 1024).toFixed(1)} KiB)`);
}
