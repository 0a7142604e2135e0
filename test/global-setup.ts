/**
 * Builds dist/ once before any test file runs: the process-level tests (kill -9, shutdown,
 * CLI, exit codes) run the real `node dist/main.js`, and parallel builds would collide.
 * Type errors do not stop the run here (tsc still emits; `npm run typecheck` is the gate for
 * them, run before the tests in CI): the tests then report what actually breaks.
 */
import { spawnSync } from 'node:child_process';

export default function setup(): void {
  const r = spawnSync(process.execPath, ['node_modules/typescript-native/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (r.status !== 0 && r.status !== 2) throw new Error(`tsc failed to build dist/ (exit ${r.status})`);
}
