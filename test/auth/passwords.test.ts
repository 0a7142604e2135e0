/**
 * Password hashes: new ones are argon2id at OWASP's m = 19 MiB, t = 2, p = 1 in the PHC string
 * format (read back by the binding's own parser, not only ours); scrypt hashes stored before
 * still verify and are replaced by argon2id on the next successful login, through the users
 * store (SQLite here, PostgreSQL in the `postgres` project); wrong passwords fail for both.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { verify as argon2Verify } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashPool } from '../../src/auth/hash-pool.js';
import { OWASP_ARGON2ID, PasswordHasher, parseStoredHash } from '../../src/auth/passwords.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { createUser } from './jwt-kit.js';

/** A hash in the format stored before argon2id (scrypt$logN$r$p$salt$key), at a low cost. */
function legacyScrypt(password: string, logN = 12): string {
  const salt = randomBytes(16);
  const key = scryptSync(password.normalize('NFC'), salt, 32, { N: 2 ** logN, r: 8, p: 1 });
  return ['scrypt', logN, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The PHC string's fields, parsed here independently of src/. */
function phc(hash: string): { alg: string; v: number; m: number; t: number; p: number; salt: Buffer; key: Buffer } {
  const m = /^\$(argon2id)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
  if (!m) throw new Error(`not a PHC argon2id string: ${hash}`);
  return { alg: m[1]!, v: Number(m[2]), m: Number(m[3]), t: Number(m[4]), p: Number(m[5]), salt: Buffer.from(m[6]!, 'base64'), key: Buffer.from(m[7]!, 'base64') };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('PasswordHasher at the production parameters', () => {
  let pool: HashPool;
  let hasher: PasswordHasher;
  beforeAll(() => {
    pool = new HashPool({ concurrency: 1, queue: 16 });
    hasher = new PasswordHasher(pool); // OWASP's argon2id, as in production
  });
  afterAll(() => pool.close());

  it('makes argon2id PHC strings with m=19456, t=2, p=1, a 16-byte salt and a 32-byte key, readable by the binding itself', async () => {
    const a = await hasher.hash('correct horse');
    const b = await hasher.hash('correct horse');
    const fields = phc(a);
    expect(fields).toMatchObject({ alg: 'argon2id', v: 19, m: 19_456, t: 2, p: 1 });
    expect(fields.salt).toHaveLength(16);
    expect(fields.key).toHaveLength(32);
    expect(a).not.toBe(b); // a fresh salt each time
    expect(await argon2Verify(a, 'correct horse')).toBe(true);
    expect(await argon2Verify(a, 'correct horsE')).toBe(false);
    expect(await hasher.verify('correct horse', a)).toBe(true);
    expect(await hasher.verify('correct horsE', a)).toBe(false);
    expect(hasher.needsRehash(a)).toBe(false);
  });

  it('verifies a scrypt hash stored before argon2id, refuses a wrong password, and asks for a re-hash', async () => {
    const old = legacyScrypt('old-Passw0rd!');
    expect(await hasher.verify('old-Passw0rd!', old)).toBe(true);
    expect(await hasher.verify('old-Passw0rd?', old)).toBe(false);
    expect(hasher.needsRehash(old)).toBe(true);
    expect(parseStoredHash(old)).toMatchObject({ kind: 'scrypt', logN: 12, r: 8, p: 1 });
  });

  it('refuses what it did not write, and hashes asking for absurd costs, without hashing them', async () => {
    const good = phc(await hasher.hash('x'));
    const salt = good.salt.toString('base64').replace(/=+$/, '');
    const key = good.key.toString('base64').replace(/=+$/, '');
    for (const stored of [
      '',
      'plain',
      `$argon2i$v=19$m=19456,t=2,p=1$${salt}$${key}`,
      `$argon2id$v=16$m=19456,t=2,p=1$${salt}$${key}`,
      `$argon2id$v=19$m=99999999,t=2,p=1$${salt}$${key}`, // ~95 GiB
      'scrypt$30$8$1$c2FsdA==$a2V5',
    ]) {
      expect(parseStoredHash(stored), stored).toBeNull();
      expect(await hasher.verify('x', stored), stored).toBe(false);
      expect(hasher.needsRehash(stored)).toBe(true);
    }
  });

  it('an unknown user costs what a wrong password does (the dummy is argon2id at the same parameters)', async () => {
    const real = await hasher.hash('real-Passw0rd!');
    await hasher.verifyAgainstNothing('warm-up'); // makes the dummy hash once
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(() => hasher.verify('wrong', real)));
      unknown.push(await time(() => hasher.verifyAgainstNothing('wrong')));
    }
    const ratio = median(unknown) / median(known);
    // Wide margins for busy shared cores; a dummy at another cost (scrypt at 2^12, argon2 at 1 MiB) is off by 5× or more.
    expect(ratio, `unknown ${median(unknown).toFixed(1)} ms / known ${median(known).toFixed(1)} ms`).toBeGreaterThan(0.4);
    expect(ratio, `unknown ${median(unknown).toFixed(1)} ms / known ${median(known).toFixed(1)} ms`).toBeLessThan(2.5);
  });
});

describe('logins upgrade old hashes through the users store', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(); // test cost: argon2id at PASSWORD_ARGON2_MEMORY_KIB=1024
  });
  afterAll(() => s.close());

  const login = (username: string, password: string) => s.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
  const storedHash = async (id: string) => (await s.app.ctx.store.users.getUserById(id))!.passwordHash;

  it('new users get argon2id at the configured memory', async () => {
    const id = await createUser(s, 'nina', 'nina-Passw0rd!');
    expect(phc(await storedHash(id))).toMatchObject({ alg: 'argon2id', v: 19, m: s.config.auth.argon2MemoryKiB, t: 2, p: 1 });
  });

  it('a scrypt hash: a wrong password is refused and leaves it; the right one logs in and stores argon2id', async () => {
    const id = await createUser(s, 'otto', 'placeholder-Passw0rd!');
    const old = legacyScrypt('otto-Passw0rd!');
    await s.app.ctx.store.users.updateUser(id, { passwordHash: old });

    expect((await login('otto', 'otto-Passw0rd?')).statusCode).toBe(401);
    expect(await storedHash(id)).toBe(old);

    expect((await login('otto', 'otto-Passw0rd!')).statusCode).toBe(200);
    const upgraded = await storedHash(id);
    expect(phc(upgraded)).toMatchObject({ alg: 'argon2id', m: s.config.auth.argon2MemoryKiB, t: 2, p: 1 });
    expect(await argon2Verify(upgraded, 'otto-Passw0rd!')).toBe(true);

    // The new hash serves the next logins, and is not re-hashed again.
    expect((await login('otto', 'otto-Passw0rd!')).statusCode).toBe(200);
    expect(await storedHash(id)).toBe(upgraded);
    expect((await login('otto', 'otto-Passw0rd?')).statusCode).toBe(401);
  });

  it('replacePasswordHash swaps only while the hash is still the one read (a password changed meanwhile wins)', async () => {
    const id = await createUser(s, 'pia', 'pia-Passw0rd!');
    const users = s.app.ctx.store.users;
    const first = await storedHash(id);
    expect(await users.replacePasswordHash(id, 'not-the-stored-hash', 'x')).toBe(false);
    expect(await storedHash(id)).toBe(first);
    expect(await users.replacePasswordHash(id, first, 'second')).toBe(true);
    expect(await storedHash(id)).toBe('second');
    expect(await users.replacePasswordHash(id, first, 'third')).toBe(false); // the loser of two racing logins
    expect(await storedHash(id)).toBe('second');
    await users.deleteUser(id);
    expect(await users.replacePasswordHash(id, 'second', 'fourth')).toBe(false); // deleted users stay as they are
  });
});
