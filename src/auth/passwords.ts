/**
 * Password hashing with scrypt at OWASP's parameters (N=2^17, r=8, p=1), computed in the
 * HashPool's worker threads (never on the main thread or libuv's threadpool).
 * The parameters are stored in the hash, so a hash made with other parameters still verifies.
 * Format: scrypt$<logN>$<r>$<p>$<salt b64>$<key b64>
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { HashPool } from './hash-pool.js';

const KEY_LENGTH = 32;

/** Parameters a stored hash may name: ours, or cheaper/dearer ones within reason (never 2^30 × 1 GiB). */
const sane = (logN: number, r: number, p: number): boolean =>
  Number.isInteger(logN) && logN >= 1 && logN <= 22 && Number.isInteger(r) && r >= 1 && r <= 32 && Number.isInteger(p) && p >= 1 && p <= 16;

export class PasswordHasher {
  /** A hash of a random password, verified against when the user is unknown so timing matches. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly pool: HashPool,
    private readonly logN = 17,
  ) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await this.pool.derive({ password, salt, logN: this.logN, r: 8, p: 1, keyLength: KEY_LENGTH });
    return ['scrypt', this.logN, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const parts = stored.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
    if (!sane(logN, r, p)) return false;
    const salt = Buffer.from(parts[4]!, 'base64');
    const expected = Buffer.from(parts[5]!, 'base64');
    const actual = await this.pool.derive({ password, salt, logN, r, p, keyLength: KEY_LENGTH });
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** Spends the same work as a real verification and always fails. */
  async verifyAgainstNothing(password: string): Promise<false> {
    this.dummyHash ??= this.hash(randomBytes(16).toString('hex'));
    // A failed first attempt (queue full) must not poison every later unknown-user login.
    const dummy = await this.dummyHash.catch((err: unknown) => {
      this.dummyHash = undefined;
      throw err;
    });
    await this.verify(password, dummy);
    return false;
  }
}
