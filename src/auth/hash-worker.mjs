// @ts-check
/**
 * The body of a password-hashing worker thread (run by piscina from hash-pool.ts).
 *
 * Plain JavaScript on purpose: a worker thread is started by Node itself, which cannot load
 * TypeScript, so the same file must run from src/ (under vitest) and from dist/ (tsc copies
 * it there: `allowJs` in tsconfig.json).
 *
 * scryptSync, not scrypt: the async form would run on libuv's threadpool, which is shared by
 * the whole process and does every file read and write. Here the work stays on this thread.
 */
import { scryptSync } from 'node:crypto';
import { getPriority, setPriority } from 'node:os';

// Lower this thread's priority (Linux keeps a nice value per thread; pid 0 is the calling
// thread): when the CPU is short, file transfers on the main thread go first and logins wait.
try {
  setPriority(Math.min(19, getPriority() + 10));
} catch {
  // Not allowed here (some sandboxes): hashing still works, at normal priority.
}

/**
 * @param {{ password: string, salt: Uint8Array, logN: number, r: number, p: number, keyLength: number }} task
 * @returns {Uint8Array}
 */
export default function derive({ password, salt, logN, r, p, keyLength }) {
  const N = 2 ** logN;
  // scrypt needs 128·N·r·p bytes; the default maxmem (32 MiB) is below OWASP's N=2^17, r=8.
  return scryptSync(password.normalize('NFC'), salt, keyLength, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 });
}
