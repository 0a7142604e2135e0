/**
 * The README's examples run as pasted (issue #11). Every block fenced as ```` ```bash example ````
 * is run, in README order, as a reader would paste them into one terminal in the repository
 * directory while `npm start` runs in another:
 *  - a real server process (`node dist/main.js`, built by the global setup) with no
 *    configuration but PORT (a free port) and UPLOAD_ROOT=<tmp>/data, started in <tmp>, so it
 *    generates its secrets under <tmp>/data/secrets as the README says;
 *  - the blocks run in <tmp> with `bash -euo pipefail`, PORT exported (the README tells the
 *    reader to do the same for another port), HOME=<tmp> (no ~/.curlrc), variables carried
 *    from block to block (test/docs/examples-kit.ts); every block must exit 0;
 *  - `npm run cli --` runs as `node dist/cli.js`, which is what it runs once built: rebuilding
 *    dist/ here would race the other test files that use it.
 * The `npm ci && …` commands of the Quick start are not examples (they install and start).
 * Also checked without a server: every curl in the README is `curl -sS --fail-with-body`, no
 * example hides a failure behind && or ||, and nothing points outside the repository.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distPath, REPO } from '../config/run-dist.js';
import { tempDir } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';
import { allShellBlocks, exampleProblems, extractExamples, runExamples, type BlockResult } from './examples-kit.js';

const readme = await fs.readFile(path.join(REPO, 'README.md'), 'utf8');
const examples = extractExamples(readme);

let dir = '';
let port = 0;
let server: ChildProcess | undefined;
let serverLog = '';

async function startServer(): Promise<void> {
  port = await freePort();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), UPLOAD_ROOT: path.join(dir, 'data'), LOG_LEVEL: 'warn' };
  server = spawn(process.execPath, [distPath('main.js')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What a reader's second terminal has: PATH, HOME, and PORT exported. */
const shellEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, PORT: String(port), LANG: 'C.UTF-8' });
const asCli = (code: string): string => code.replace(/\bnpm run cli --/g, `node ${JSON.stringify(distPath('cli.js'))}`);

function report(results: BlockResult[]): string {
  const last = results[results.length - 1];
  if (!last) return 'no block ran';
  return `README.md line ${last.line} exited ${last.code}\n--- stdout\n${last.stdout.slice(-3000)}\n--- stderr\n${last.stderr.slice(-3000)}\n--- server\n${serverLog.slice(-3000)}`;
}

beforeAll(async () => {
  dir = await tempDir('sl-readme-');
  await startServer();
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await fs.rm(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('cover every section that shows the API, and follow the rules for runnable examples', () => {
    const sections = examples.map((e) => readme.slice(0, readme.indexOf(e.code)).match(/^#{2,3} .*$/gm)!.pop());
    expect(sections).toEqual(expect.arrayContaining(['## Quick start', '## Command line', '### As a backend service', '### As a user', '### The upload protocol (chunked, resumable)', '### Reading bytes']));
    expect(examples.flatMap(exampleProblems)).toEqual([]);
    // Every curl in the README, example or not, shows its failures.
    const curls = allShellBlocks(readme).flatMap((b) => b.code.split('\n').filter((l) => /\bcurl\b/.test(l) && !/\bcurl -sS --fail-with-body\b/.test(l)));
    expect(curls).toEqual([]);
  });

  it('the runner fails a block that fails, and carries variables from block to block', async () => {
    const failing = ['curl -sS --fail-with-body "http://127.0.0.1:$PORT/v1/files/no-such-route"\n', 'false | true\n', 'echo "$NO_SUCH_VARIABLE"\n', 'cat no-such-file > /dev/null\necho after\n'];
    for (const code of failing) {
      const [result] = await runExamples([{ line: 1, code }], { cwd: dir, env: shellEnv() });
      expect(result!.code, code).not.toBe(0);
      expect(result!.stdout).not.toContain('after');
    }
    const carried = await runExamples(
      [
        { line: 1, code: 'X=$(printf "a b")\nY=1\n' },
        { line: 2, code: 'test "$X" = "a b"\nY=$((Y+1))\n' },
        { line: 3, code: 'test "$Y" = 2\n' },
      ],
      { cwd: dir, env: shellEnv() },
    );
    expect(carried.map((r) => r.code)).toEqual([0, 0, 0]);
  });

  it('run as pasted against a real server, every block exiting 0', async () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
    const results = await runExamples(examples, { cwd: dir, env: shellEnv(), rewrite: asCli, timeoutMs: 90_000 });
    expect(results.map((r) => r.code), report(results)).toEqual(examples.map(() => 0));
    // What the blocks said they did, they did: the 20 MiB upload arrived whole, the ZIP held it,
    // and the delete at the end took the file away again.
    const all = results.map((r) => r.stdout).join('\n');
    expect(all).toMatch(/^3$/m); // three parts received
    expect(all).toContain('No errors detected in compressed data of isos.zip');
    expect(all).toMatch(/"deleted": ?true/);
    expect(await fs.readFile(path.join(dir, 'data', 'secrets', 'service-token'), 'utf8')).not.toBe('');
  }, 300_000);
});

describe('the repository stands alone', () => {
  it('no README, docs page or source comment points outside the repository', async () => {
    const outside = [['..', 'shared', ''].join('/'), ['SPEC', 'md'].join('.')];
    const files = ['README.md', ...(await listFiles('docs')), ...(await listFiles('src'))];
    const hits: string[] = [];
    for (const file of files) {
      const text = await fs.readFile(path.join(REPO, file), 'utf8');
      for (const needle of outside) if (text.includes(needle)) hits.push(`${file}: ${needle}`);
    }
    expect(hits).toEqual([]);
    expect(readme).toContain('docs/api.md');
  });
});

async function listFiles(folder: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(REPO, folder), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(REPO, path.join(e.parentPath, e.name)));
}
