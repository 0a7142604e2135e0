/**
 * The auth services without HTTP: TokenIssuer (generate-token's minting policy),
 * ProfileService (/auth/me) and SessionService.login's throttling. Real SQLite (in memory),
 * a real key ring on a temporary directory, real password hashing at a low cost.
 */
import fs from 'node:fs/promises';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileKeyStore } from '../../src/auth/key-store-file.js';
import { HashPool } from '../../src/auth/hash-pool.js';
import { KeyRing } from '../../src/auth/keyring.js';
import { OWASP_ARGON2ID, PasswordHasher } from '../../src/auth/passwords.js';
import { SERVICE_PRINCIPAL, type Principal } from '../../src/auth/principal.js';
import { ProfileService } from '../../src/auth/profile.js';
import { SessionService } from '../../src/auth/sessions.js';
import { LoginThrottle } from '../../src/auth/throttle.js';
import { TokenIssuer } from '../../src/auth/token-issuer.js';
import { TokenSigner } from '../../src/auth/tokens.js';
import { UserService } from '../../src/auth/users.js';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore, Usage } from '../../src/db/types.js';
import { InvalidInput, NotAllowed, NotAuthenticated, RateLimited } from '../../src/errors/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/app.js';

/** argon2id at 1 MiB: the tests' hashes cost milliseconds, not the production 19 MiB's ~50 ms. */
const CHEAP_HASHES = { ...OWASP_ARGON2ID, memoryKiB: 1024 };

let dir: string;
let store: MetadataStore;
let pool: HashPool;
let users: UserService;
let signer: TokenSigner;
let issuer: TokenIssuer;
const ids: Record<'viewer' | 'operator' | 'admin' | 'gone' | 'off', string> = { viewer: '', operator: '', admin: '', gone: '', off: '' };

beforeAll(async () => {
  dir = await tempDir('sl-auth-services-');
  store = await openMetadataStore({ databaseUrl: ':memory:' });
  pool = new HashPool({ concurrency: 1, queue: 16 });
  users = new UserService(store.users, new PasswordHasher(pool, CHEAP_HASHES), store.tokens);
  const keys = await KeyRing.open({ store: new FileKeyStore(dir), alg: 'ES256', retentionSeconds: 3600 });
  signer = new TokenSigner(keys, { issuer: 'https://issuer.test', audience: 'files', accessTtlSeconds: 900, refreshTtlSeconds: 3600 });
  issuer = new TokenIssuer(signer, users, store.tokens, { maxTokenHours: 24 });
  for (const role of ['viewer', 'operator', 'admin'] as const) ids[role] = (await users.create({ username: `the-${role}`, password: `password-${role}`, role })).id;
  ids.gone = (await users.create({ username: 'gone', password: 'password-gone' })).id;
  await users.remove(ids.gone);
  ids.off = (await users.create({ username: 'off', password: 'password-off' })).id;
  await users.update(ids.off, { is_active: false });
});

afterAll(async () => {
  await pool.close();
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('TokenIssuer.mintForService', () => {
  it('a known user gets their own role, all its scopes, an hour by default, and their username', async () => {
    const minted = await issuer.mintForService({ userId: ids.viewer });
    expect(minted).toMatchObject({ userId: ids.viewer, expiresIn: 3600 });
    const claims = decodeJwt(minted.token);
    expect(claims).toMatchObject({ sub: ids.viewer, username: 'the-viewer', role: 'viewer', scope: 'files:read', type: 'access' });
    expect(claims.exp).toBe(minted.exp);
    expect(minted.exp - claims.iat!).toBe(3600);
  });

  it('a user unknown here (a service\'s own) gets operator by default, or any role asked, under its id', async () => {
    expect(decodeJwt((await issuer.mintForService({ userId: 'ext-1' })).token)).toMatchObject({ role: 'operator', username: 'ext-1' });
    expect(decodeJwt((await issuer.mintForService({ userId: 'ext-1', role: 'admin' })).token)).toMatchObject({
      role: 'admin',
      scope: 'files:read files:write files:delete users:admin',
    });
  });

  it('never above a known user\'s role; below is fine', async () => {
    for (const role of ['operator', 'admin'] as const) {
      const refused = issuer.mintForService({ userId: ids.viewer, role });
      await expect(refused).rejects.toBeInstanceOf(InvalidInput);
      await expect(refused).rejects.toMatchObject({ code: 'role_above_user' });
    }
    expect(decodeJwt((await issuer.mintForService({ userId: ids.admin, role: 'viewer' })).token)).toMatchObject({ role: 'viewer', scope: 'files:read' });
  });

  it('a scope narrows the role\'s; one beyond it is refused; an empty one means all of them', async () => {
    expect(decodeJwt((await issuer.mintForService({ userId: ids.operator, scope: 'files:read' })).token).scope).toBe('files:read');
    await expect(issuer.mintForService({ userId: ids.operator, scope: 'files:read users:admin' })).rejects.toMatchObject({ code: 'invalid_scope' });
    await expect(issuer.mintForService({ userId: 'ext-2', role: 'viewer', scope: 'files:write' })).rejects.toMatchObject({ code: 'invalid_scope' });
    expect(decodeJwt((await issuer.mintForService({ userId: ids.operator, scope: '' })).token).scope).toBe('files:read files:write files:delete');
  });

  it('lifetimes: decimals of an hour, at most the configured maximum, never one that expires at once', async () => {
    expect((await issuer.mintForService({ userId: 'ext-3', expiresHours: 0.5 })).expiresIn).toBe(1800);
    expect((await issuer.mintForService({ userId: 'ext-3', expiresHours: 24 })).expiresIn).toBe(86_400);
    await expect(issuer.mintForService({ userId: 'ext-3', expiresHours: 24.01 })).rejects.toMatchObject({ code: 'expires_hours_too_large' });
    await expect(issuer.mintForService({ userId: 'ext-3', expiresHours: 0.0001 })).rejects.toMatchObject({ code: 'expires_hours_too_small' });
  });

  it('no user: user_id_required; a disabled or deleted user: user_disabled, and nothing is signed', async () => {
    const sign = vi.spyOn(signer, 'issueAccess');
    try {
      await expect(issuer.mintForService({})).rejects.toMatchObject({ code: 'user_id_required' });
      for (const userId of [ids.off, ids.gone]) {
        const refused = issuer.mintForService({ userId, role: 'viewer' });
        await expect(refused).rejects.toBeInstanceOf(NotAllowed);
        await expect(refused).rejects.toMatchObject({ code: 'user_disabled' });
      }
      expect(sign).not.toHaveBeenCalled();
    } finally {
      sign.mockRestore();
    }
  });

  it('a failed user lookup fails the mint with that error: never a token with a guessed role', async () => {
    const broken = new Error('disk I/O error');
    const failing = new TokenIssuer(signer, { get: () => Promise.reject(broken) }, store.tokens, { maxTokenHours: 24 });
    const sign = vi.spyOn(signer, 'issueAccess');
    try {
      for (const role of [undefined, 'operator', 'admin'] as const) await expect(failing.mintForService({ userId: ids.viewer, role })).rejects.toBe(broken);
      expect(sign).not.toHaveBeenCalled();
    } finally {
      sign.mockRestore();
    }
  });
});

describe('ProfileService.describe', () => {
  const usage: Usage = { usedBytes: 5, reservedBytes: 7, fileCount: 1, openUploads: 2 };
  const files = { usage: async (userId: string) => ({ userId, quotaBytes: 100, ...usage }) };
  const principal = (userId: string, extra: Partial<Principal> = {}): Principal => ({
    kind: 'user',
    userId,
    username: 'from-token',
    role: 'viewer',
    scopes: ['files:read'],
    ...extra,
  });

  it('describes a known user from the user table, with the token\'s role and scopes and their usage', async () => {
    await users.update(ids.operator, { email: 'op@example.com' });
    const me = await new ProfileService(users, files).describe(principal(ids.operator));
    expect(me).toEqual({
      id: ids.operator,
      username: 'the-operator',
      email: 'op@example.com',
      role: 'viewer',
      scopes: ['files:read'],
      isActive: true,
      usage: { userId: ids.operator, quotaBytes: 100, ...usage },
    });
  });

  it('describes a user unknown here from the token; a service is not a user', async () => {
    expect(await new ProfileService(users, files).describe(principal('ext-9'))).toMatchObject({ username: 'from-token', email: null, isActive: true });
    await expect(new ProfileService(users, files).describe(SERVICE_PRINCIPAL)).rejects.toMatchObject({ code: 'not_a_user' });
  });

  it('a failed lookup fails, rather than describe the user from a guess', async () => {
    const broken = new Error('disk I/O error');
    await expect(new ProfileService({ get: () => Promise.reject(broken) }, files).describe(principal(ids.viewer))).rejects.toBe(broken);
  });
});

describe('SessionService.login throttling', () => {
  it('counts failures per address and username; the next try is RateLimited until the window has passed', async () => {
    const clock = new ManualClock();
    const throttle = new LoginThrottle({ failuresPerWindow: 3, now: () => clock.now() });
    const sessions = new SessionService(users, signer, store.tokens, throttle);
    for (let i = 0; i < 3; i++) await expect(sessions.login('the-viewer', 'wrong-password', '192.0.2.1')).rejects.toBeInstanceOf(NotAuthenticated);
    const limited = sessions.login('the-viewer', 'password-viewer', '192.0.2.1');
    await expect(limited).rejects.toBeInstanceOf(RateLimited);
    await expect(limited).rejects.toMatchObject({ code: 'too_many_requests', retryAfterSeconds: 60 });
    // Another address is not held back, and its success is not counted.
    expect((await sessions.login('the-viewer', 'password-viewer', '198.51.100.7')).user.id).toBe(ids.viewer);
    clock.advance(60_000);
    expect((await sessions.login('the-viewer', 'password-viewer', '192.0.2.1')).user.id).toBe(ids.viewer);
  });
});
