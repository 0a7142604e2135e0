/**
 * Signing keys: the JWKS publishes only public members under RFC 7638 kids; keys persist
 * across restarts in 0600 files; rotation adds a signing key while the old one keeps
 * verifying; RS256 and EdDSA work end to end; discovery points stock clients at the JWKS.
 */
import fs from 'node:fs/promises';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../src/auth/key-store-file.js';
import { KeyRing } from '../../src/auth/keyring.js';
import { TokenSigner } from '../../src/auth/tokens.js';
import { keyRingOptions } from '../../src/context.js';
import { ManualClock } from '../../src/util/clock.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { login, storedKeys } from './jwt-kit.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

async function jwks(s: TestServer): Promise<JWK[]> {
  const res = await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
  return res.json().keys;
}

const me = (s: TestServer, token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });

describe.each([
  ['ES256', 'EC'],
  ['RS256', 'RSA'],
  ['EdDSA', 'OKP'],
])('AUTH_JWT_ALG=%s', (alg, kty) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ AUTH_JWT_ALG: alg });
  });
  afterAll(async () => s.close());

  it('publishes only public members, use "sig", alg, and kid = the RFC 7638 thumbprint', async () => {
    const keys = await jwks(s);
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(key).toMatchObject({ kty, alg, use: 'sig' });
    for (const m of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(m);
    expect(key.kid).toBe(await calculateJwkThumbprint(key, 'sha256'));
  });

  it('signs logins and minted tokens with that key, and verifies them', async () => {
    const kid = (await jwks(s))[0]!.kid;
    const fromLogin = (await login(s, 'admin', s.adminPassword)).json().access_token;
    const minted = await s.tokenFor('u-' + alg);
    for (const token of [fromLogin, minted]) {
      expect(decodeProtectedHeader(token)).toEqual({ alg, kid, typ: 'at+jwt' });
      expect((await me(s, token)).statusCode).toBe(200);
    }
  });
});

describe('key files and restarts', () => {
  let root: string;
  const secrets = {
    AUTH_SERVICE_TOKEN: 'svc-restart-token-0123456789abcdef',
    UPLOAD_SIGNING_KEY: 'sig-restart-key-0123456789abcdef',
    ADMIN_PASSWORD: 'admin-restart-pass',
  };
  beforeAll(async () => {
    root = await tempDir();
  });
  afterAll(async () => fs.rm(root, { recursive: true, force: true }));

  // The files themselves (names, 0600 in a 0700 directory): key-store-file.test.ts.
  it('keeps its keys in the store and reuses them after a restart', async () => {
    const first = await startTestServer(secrets, root);
    const keysBefore = await jwks(first);
    const loginToken = (await login(first, 'admin', secrets.ADMIN_PASSWORD)).json().access_token;
    const minted = await first.tokenFor('restart-user');
    expect((await storedKeys(first)).map((k) => k.kid)).toEqual(keysBefore.map((k) => k.kid));
    await first.close();

    const second = await startTestServer(secrets, root);
    try {
      expect(await jwks(second)).toEqual(keysBefore);
      expect((await me(second, loginToken)).statusCode).toBe(200);
      expect((await me(second, minted)).statusCode).toBe(200);
      expect(decodeProtectedHeader(await second.tokenFor('restart-user')).kid).toBe(keysBefore[0]!.kid);
    } finally {
      await second.close();
    }
  });
});

describe('rotation', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('adds a new signing key; the old public key stays published and old tokens still verify', async () => {
    const oldKid = (await jwks(s))[0]!.kid!;
    const oldToken = (await login(s, 'admin', s.adminPassword)).json().access_token;
    const oldMinted = await s.tokenFor('rot-user');

    const newKid = await KeyRing.rotate(keyRingOptions(s.config, s.app.ctx.store));
    expect(newKid).not.toBe(oldKid);
    const stored = await storedKeys(s);
    expect(stored.find((k) => k.kid === oldKid)!.retiredAt).not.toBeNull();
    expect(stored.find((k) => k.kid === newKid)!.retiredAt).toBeNull();

    await s.app.ctx.keys.reload(); // what the periodic refresh does
    expect((await jwks(s)).map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    const newToken = (await login(s, 'admin', s.adminPassword)).json().access_token;
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
    expect(decodeProtectedHeader(await s.tokenFor('rot-user')).kid).toBe(newKid);
    for (const token of [oldToken, oldMinted, newToken]) expect((await me(s, token)).statusCode).toBe(200);
  });

  it('a running ring signs with a rotated key by itself once its refresh interval has passed', async () => {
    const opts = { ...keyRingOptions(s.config, s.app.ctx.store), refreshSeconds: 0 };
    const ring = await KeyRing.open(opts);
    const signer = new TokenSigner(ring, { issuer: 'i', audience: 'a', accessTtlSeconds: 60, refreshTtlSeconds: 60 });
    const before = ring.signingKey().kid;
    const rotated = await KeyRing.rotate(opts); // as `cli keys rotate` does, from another process
    const issued = await signer.issueAccess({ userId: 'u', username: 'u', role: 'viewer', scope: 'files:read' });
    expect(decodeProtectedHeader(issued.token).kid).toBe(rotated);
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(expect.arrayContaining([before, rotated]));
  });

  it('drops a retired key once every token it signed has expired, not before', async () => {
    const dir = await tempDir('sl-keys-');
    try {
      const clock = new ManualClock();
      const opts = { store: new FileKeyStore(dir), alg: 'ES256' as const, retentionSeconds: 3600, clock };
      const first = (await KeyRing.open(opts)).signingKey().kid;
      await KeyRing.rotate(opts);
      clock.advance(3600_000); // retired exactly the retention ago: tokens it signed may still be alive
      expect((await KeyRing.open(opts)).jwks().keys.map((k) => k.kid)).toContain(first);
      clock.advance(1_000);
      const ring = await KeyRing.open(opts);
      expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(first);
      expect(await ring.verificationKey(first)).toBeNull();
      expect((await opts.store.list()).map((k) => k.kid)).not.toContain(first);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('/.well-known/openid-configuration', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PUBLIC_BASE_URL: 'https://files.example.com/base/' });
  });
  afterAll(async () => s.close());

  it('names the issuer and the JWKS URI', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBeDefined();
    const doc = res.json();
    expect(doc.issuer).toBe(s.config.auth.issuer);
    expect(doc.issuer).toBe('https://files.example.com/base');
    expect(doc.jwks_uri).toBe('https://files.example.com/base/.well-known/jwks.json');
  });
});
