/**
 * Password hashing with argon2id at OWASP's first choice (m = 19 MiB, t = 2, p = 1), computed
 * in the HashPool's worker threads (never on the main thread or libuv's threadpool).
 * Stored as the PHC string `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>` (unpadded base64),
 * the format every argon2 library reads.
 *
 * Hashes stored before argon2id are scrypt: `scrypt$<logN>$<r>$<p>$<salt b64>$<key b64>`.
 * They still verify, and `needsRehash` tells the caller to store a fresh argon2id hash after
 * the next successful login (scrypt at N = 2^17 held 128 MiB per login in flight, argon2id 19).
 * Parameters are read from each stored hash, so a hash made with other ones still verifies.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { HashPool } from './hash-pool.js';

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Argon2 version 1.3, the only one the PHC strings we write name. */
const ARGON2_VERSION = 19;

export interface Argon2Params {
  /** m: memory in KiB. */
  memoryKiB: number;
  /** t: passes over the memory. */
  passes: number;
  /** p: lanes (parallelism). */
  lanes: number;
}

/** OWASP's first choice for argon2id (Password Storage Cheat Sheet). */
export const OWASP_ARGON2ID: Argon2Params = { memoryKiB: 19_456, passes: 2, lanes: 1 };

/** What a stored hash may ask of us: ours, or cheaper/dearer within reason (never 2^30 × 1 GiB). */
const saneScrypt = (logN: number, r: number, p: number): boolean =>
  Number.isInteger(logN) && logN >= 1 && logN <= 22 && Number.isInteger(r) && r >= 1 && r <= 32 && Number.isInteger(p) && p >= 1 && p <= 16;
const saneArgon2 = ({ memoryKiB, passes, lanes }: Argon2Params): boolean =>
  Number.isInteger(lanes) && lanes >= 1 && lanes <= 16 && Number.isInteger(memoryKiB) && memoryKiB >= 8 * lanes && memoryKiB <= 1_048_576 && Number.isInteger(passes) && passes >= 1 && passes <= 16;

/** PHC strings use base64 without padding. */
const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');

type Parsed =
  | { kind: 'argon2id'; params: Argon2Params; salt: Buffer; key: Buffer }
  | { kind: 'scrypt'; logN: number; r: number; p: number; salt: Buffer; key: Buffer };

const ARGON2ID_PHC = /^\$argon2id\$v=19\$m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** The stored hash's kind, parameters, salt and key; null for anything we did not write. */
export function parseStoredHash(stored: string): Parsed | null {
  const argon = ARGON2ID_PHC.exec(stored);
  if (argon) {
    const [memoryKiB, passes, lanes] = argon.slice(1, 4).map(Number) as [number, number, number];
    const params = { memoryKiB, passes, lanes };
    const salt = Buffer.from(argon[4]!, 'base64');
    const key = Buffer.from(argon[5]!, 'base64');
    return saneArgon2(params) && salt.length >= 8 && key.length >= 16 ? { kind: 'argon2id', params, salt, key } : null;
  }
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!saneScrypt(logN, r, p)) return null;
  return { kind: 'scrypt', logN, r, p, salt: Buffer.from(parts[4]!, 'base64'), key: Buffer.from(parts[5]!, 'base64') };
}

export class PasswordHasher {
  /** A hash of a random password, verified against when the user is unknown so timing matches. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly pool: HashPool,
    private readonly params: Argon2Params = OWASP_ARGON2ID,
  ) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_LENGTH);
    const { memoryKiB, passes, lanes } = this.params;
    const key = await this.pool.derive({ kind: 'argon2id', password, salt, memoryKiB, passes, lanes, keyLength: KEY_LENGTH });
    return `$argon2id$v=${ARGON2_VERSION}$m=${memoryKiB},t=${passes},p=${lanes}$${b64(salt)}$${b64(key)}`;
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parseStoredHash(stored);
    if (!parsed) return false;
    const { salt, key: expected } = parsed;
    const actual =
      parsed.kind === 'argon2id'
        ? await this.pool.derive({ kind: 'argon2id', password, salt, ...parsed.params, keyLength: expected.length })
        : await this.pool.derive({ kind: 'scrypt', password, salt, logN: parsed.logN, r: parsed.r, p: parsed.p, keyLength: KEY_LENGTH });
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** True unless `stored` is argon2id at this hasher's parameters: the caller re-hashes after a successful login. */
  needsRehash(stored: string): boolean {
    const parsed = parseStoredHash(stored);
    if (parsed?.kind !== 'argon2id') return true;
    const { memoryKiB, passes, lanes } = parsed.params;
    return memoryKiB !== this.params.memoryKiB || passes !== this.params.passes || lanes !== this.params.lanes || parsed.key.length !== KEY_LENGTH;
  }

  /** Spends the same work as a real verification (argon2id at our parameters) and always fails. */
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
