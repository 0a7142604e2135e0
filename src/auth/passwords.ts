/**
 * Password hashing with node:crypto scrypt at OWASP's parameters (N=2^17, r=8, p=1).
 * The parameters are stored in the hash, so a hash made with other parameters still verifies.
 * Format: scrypt$<logN>$<r>$<p>$<salt b64>$<key b64>
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export class PasswordHasher {
  /** A hash of a random password, verified against when the user is unknown so timing matches. */
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly logN = 17) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await derive(password, salt, this.logN, 8, 1);
    return ['scrypt', this.logN, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const parts = stored.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
    const salt = Buffer.from(parts[4]!, 'base64');
    const expected = Buffer.from(parts[5]!, 'base64');
    const actual = await derive(password, salt, logN, r, p);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** Spends the same work as a real verification and always fails. */
  async verifyAgainstNothing(password: string): Promise<false> {
    this.dummyHash ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(password, await this.dummyHash);
    return false;
  }
}
