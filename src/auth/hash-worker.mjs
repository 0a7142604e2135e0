// @ts-check
/**
 * The body of a password-hashing worker thread (run by piscina from hash-pool.ts).
 *
 * Plain JavaScript on purpose: a worker thread is started by Node itself, which cannot load
 * TypeScript, so the same file must run from src/ (under vitest) and from dist/ (tsc copies
 * it there: `allowJs` in tsconfig.json).
 *
 * Synchronous forms only (argon2's hashRawSync, scryptSync): the async ones run on libuv's
 * threadpool, which is shared by the whole process and does every file read and write. Here
 * the work stays on this thread, at a lower priority.
 */
import { scryptSync } from 'node:crypto';
import { getPriority, setPriority } from 'node:os';
import { hashRawSync } from '@node-rs/argon2';

// Lower this thread's priority (Linux keeps a nice value per thread; pid 0 is the calling
// thread): when the CPU is short, file transfers on the main thread go first and logins wait.
try {
  setPriority(Math.min(19, getPriority() + 10));
} catch {
  // Not allowed here (some sandboxes): hashing still works, at normal priority.
}

/** Argon2id in the binding's numbering (its `Algorithm` is a const enum: types only). */
const ARGON2ID = 2;

/**
 * @param {import('./hash-pool.js').DeriveTask} task
 * @returns {Uint8Array} the raw key
 */
export default function derive(task) {
  const password = task.password.normalize('NFC');
  if (task.kind === 'argon2id') {
    const { salt, memoryKiB, passes, lanes, keyLength } = task;
    return hashRawSync(password, { algorithm: ARGON2ID, salt, memoryCost: memoryKiB, timeCost: passes, parallelism: lanes, outputLen: keyLength });
  }
  const { salt, logN, r, p, keyLength } = task;
  const N = 2 ** logN;
  // scrypt needs 128·N·r·p bytes; the default maxmem (32 MiB) is below OWASP's N=2^17, r=8.
  return scryptSync(password, salt, keyLength, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 });
}
