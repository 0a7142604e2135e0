/**
 * Example shell blocks in Markdown, and a runner that treats them as one reader pasting them
 * into one terminal: blocks run in order, each in its own `bash -euo pipefail` (so each has
 * its own exit code), with the variables earlier blocks set carried into later ones.
 *
 * A block is an example when its fence's info string is exactly `bash example`
 * (```` ```bash example ````): renderers still highlight it as bash. Other bash blocks
 * (`npm ci && npm start`, deployment commands for another host) are prose, not run.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Example {
  /** 1-based line of the opening fence, for failure messages. */
  line: number;
  code: string;
}

export function extractExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*(.*?)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    if (open[2] === 'bash example') out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') + '\n' });
    i = end; // skip the block's body, whatever its language
  }
  return out;
}

/** Every fenced bash/sh block, example or not (for the curl rule). */
export function allShellBlocks(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*(.*?)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== open[1]) end++;
    if (/^(bash|sh|shell|console)\b/.test(open[2]!)) out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return out;
}

/** Logical lines: backslash-newline continuations joined. */
export const logicalLines = (code: string): string[] => code.replace(/\\\n/g, ' ').split('\n');

/** Why this example would not run as pasted, or hide a failure; [] when it is fine. */
export function exampleProblems(example: Example): string[] {
  const problems: string[] = [];
  for (const line of logicalLines(example.code)) {
    const command = line.replace(/#.*$/, '');
    const curls = (command.match(/\bcurl\b/g) ?? []).length;
    const strict = (command.match(/\bcurl -sS --fail-with-body\b/g) ?? []).length;
    if (curls !== strict) problems.push(`curl without "-sS --fail-with-body": ${line.trim()}`);
    // Under `set -e` a failure on the left of && or || does not stop the script: it would hide it.
    if (/&&|\|\|/.test(command)) problems.push(`&& or || hides a failure under set -e: ${line.trim()}`);
    if (/\bnpm\b/.test(command.replace(/\bnpm run cli --/g, ''))) problems.push(`npm other than "npm run cli --": ${line.trim()}`);
  }
  return problems;
}

export interface BlockResult {
  line: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  /** Text replacements applied to each block before it runs (e.g. `npm run cli --`). */
  rewrite?: (code: string) => string;
  timeoutMs?: number;
}

// Sources the state of earlier blocks, runs the block in this same shell (so `set -euo
// pipefail` applies to it), then saves every variable a fresh shell does not have.
const WRAPPER = `
if [[ -s "$EXAMPLES_STATE" ]]; then source "$EXAMPLES_STATE"; fi
source "$1"
__vars=($(compgen -v | grep -vxFf "$EXAMPLES_BASELINE" | grep -vE '^(_.*|BASH.*|FUNCNAME|PIPESTATUS|GROUPS|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH.*|OLDPWD|PWD|COLUMNS|LINES)$' || true))
if (( \${#__vars[@]} > 0 )); then declare -p "\${__vars[@]}" > "$EXAMPLES_STATE"; fi
`;

function bash(args: string[], cwd: string, env: Record<string, string>, timeoutMs: number): Promise<Omit<BlockResult, 'line'>> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the examples in order; stops after the first that fails (later ones build on it). */
export async function runExamples(examples: Example[], opts: RunOptions): Promise<BlockResult[]> {
  const work = await fs.mkdtemp(path.join(opts.cwd, '.examples-'));
  const env = { ...opts.env, EXAMPLES_STATE: path.join(work, 'state'), EXAMPLES_BASELINE: path.join(work, 'baseline') };
  await fs.writeFile(path.join(work, 'wrapper.sh'), WRAPPER);
  const baseline = await bash(['-c', 'compgen -v'], opts.cwd, env, 10_000);
  await fs.writeFile(env.EXAMPLES_BASELINE, baseline.stdout);
  const results: BlockResult[] = [];
  for (const [i, example] of examples.entries()) {
    const file = path.join(work, `block-${i + 1}.sh`);
    await fs.writeFile(file, opts.rewrite ? opts.rewrite(example.code) : example.code);
    const result = await bash([path.join(work, 'wrapper.sh'), file], opts.cwd, env, opts.timeoutMs ?? 60_000);
    results.push({ line: example.line, ...result });
    if (result.code !== 0) break;
  }
  await fs.rm(work, { recursive: true, force: true });
  return results;
}
