/**
 * Builds dist/ once before any test file runs: the process-level tests (kill -9, shutdown,
 * CLI, exit codes) run the real `node dist/main.js`, and parallel builds would collide.
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
