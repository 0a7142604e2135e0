/**
 * Signing keys in PostgreSQL (src/db/pg/key-store.ts, sealed by src/auth/key-store-seal.ts):
 * the KeyStore conformance suite with its races in task threads (each its own pool), what is
 * at rest (no private member in clear; a seal opens only under its secret and its kid), a wrong
 * AUTH_KEYS_SECRET stopping a real server's start with one line, and a rotation made on one
 * instance reaching another within its 60 s refresh (two rings on one schema, a ManualClock).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeySealer } from '../../src/auth/key-store-seal.js';
import { KeyRing, type KeyRingOptions } from '../../src/auth/keyring.js';
import { TokenSigner } from '../../src/auth/tokens.js';
import { ConfigError } from '../../src/config/config.js';
import { openMetadataStore } from '../../src/db/open.js';
import { PgKeyStore } from '../../src/db/pg/key-store.js';
import type { PgMetadataStore } from '../../src/db/pg/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { keyStoreConformance } from '../auth/key-store-conformance.js';
import { runTask, values } from '../auth/parallel-tasks.js';
import { tempDir } from '../helpers/app.js';
import { processEnv, startServerProcess } from '../helpers/process.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';

const OPENER = new URL('../auth/tasks/pg-stores.mjs', import.meta.url).href;
const KEY_RING_TASK = new URL('../auth/tasks/key-ring.mjs', import.meta.url);
const secret = () => 'keys-' + randomBytes(24).toString('hex');

/** A fresh schema and one "instance" on it (a store with its own pool). */
async function instanceOnFreshSchema(): Promise<{ url: string; store: PgMetadataStore; drop(): Promise<void> }> {
  const schema = await freshSchema('keys');
  const store = (await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 2 })) as PgMetadataStore;
  return {
    url: schema.url,
    store,
    async drop() {
      await store.close();
      await schema.drop();
    },
  };
}

describePostgres('PgKeyStore', () => {
  keyStoreConformance('PgKeyStore', async () => {
    const { url, store, drop } = await instanceOnFreshSchema();
    const keysSecret = secret();
    return { store: new PgKeyStore(store.pg, new KeySealer(keysSecret)), opener: { module: OPENER, options: { url, secret: keysSecret } }, cleanup: drop };
  });

  it('instances opening at once on an empty database make one key between them and all sign with it at once (task threads)', async () => {
    const threads = 4;
    for (let round = 0; round < 5; round++) {
      const { url, store, drop } = await instanceOnFreshSchema();
      try {
        const opener = { module: OPENER, options: { url, secret: 'keys-shared-secret-0123' } };
        const kids = values<string[]>(await runTask(KEY_RING_TASK, Array(threads).fill({ opener, op: 'open' })));
        const stored = (await store.pg.query<{ kid: string; retired_at: number | null }>('SELECT kid, retired_at FROM signing_keys')).rows;
        expect(stored, `round ${round}`).toEqual([{ kid: kids[0]![0], retired_at: null }]);
        expect(new Set(kids.flat())).toEqual(new Set([kids[0]![0]])); // at open, and after the next reload
      } finally {
        await drop();
      }
    }
  });

  describe('at rest and under the wrong secret', () => {
    let db: Awaited<ReturnType<typeof instanceOnFreshSchema>>;
    let opts: KeyRingOptions;
    beforeEach(async () => {
      db = await instanceOnFreshSchema();
      opts = { store: new PgKeyStore(db.store.pg, new KeySealer(secret())), alg: 'ES256', retentionSeconds: 3600 };
    });
    afterEach(async () => db.drop());

    it('a row holds the public facts and a sealed private JWK: no private member in clear, a fresh IV per seal', async () => {
      const ring = await KeyRing.open(opts);
      const [stored] = await opts.store.list();
      const { rows } = await db.store.pg.query<{ kid: string; alg: string; private_jwk_sealed: string }>('SELECT kid, alg, private_jwk_sealed FROM signing_keys');
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kid: ring.signingKey().kid, alg: 'ES256' });
      const sealed = rows[0]!.private_jwk_sealed;
      expect(sealed).toMatch(/^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/);
      expect(sealed).not.toContain(stored!.privateJwk.d);
      expect(sealed).not.toContain('"kty"');
      const sealer = new KeySealer('another-secret-of-16+');
      const twice = [sealer.seal('kid', stored!.privateJwk), sealer.seal('kid', stored!.privateJwk)];
      expect(twice[0]).not.toBe(twice[1]);
      for (const s of twice) expect(sealer.open('kid', s)).toEqual(stored!.privateJwk);
    });

    it('another secret, a seal moved to another kid or one altered byte: ConfigError naming AUTH_KEYS_SECRET, and no key is made', async () => {
      await KeyRing.open(opts);
      const kidA = (await opts.store.list())[0]!.kid;
      const wrong = { ...opts, store: new PgKeyStore(db.store.pg, new KeySealer(secret())) };
      const refused = await KeyRing.open(wrong).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ConfigError);
      expect(refused).toMatchObject({ variable: 'AUTH_KEYS_SECRET' });
      expect((refused as Error).message).toContain(kidA);
      expect((refused as Error).message).not.toContain('\n');
      expect((await db.store.pg.query('SELECT kid FROM signing_keys')).rows).toEqual([{ kid: kidA }]); // nothing generated under it

      // A second key; then A's seal copied onto B's row: the seal is bound to its kid.
      const kidB = await KeyRing.rotate(opts);
      await db.store.pg.query('UPDATE signing_keys SET private_jwk_sealed = (SELECT private_jwk_sealed FROM signing_keys WHERE kid = $1) WHERE kid = $2', [kidA, kidB]);
      await expect(opts.store.list()).rejects.toMatchObject({ name: 'ConfigError', variable: 'AUTH_KEYS_SECRET', message: expect.stringContaining(kidB) });

      // Without that row the ring opens again; then one byte of A's ciphertext changed.
      await db.store.pg.query('DELETE FROM signing_keys WHERE kid = $1', [kidB]);
      expect((await opts.store.list()).map((k) => k.kid)).toEqual([kidA]);
      const { rows } = await db.store.pg.query<{ s: string }>('SELECT private_jwk_sealed AS s FROM signing_keys');
      const [v, iv, body, tag] = rows[0]!.s.split('.');
      const flipped = Buffer.from(body!, 'base64url');
      flipped[0]! ^= 1;
      await db.store.pg.query('UPDATE signing_keys SET private_jwk_sealed = $1', [[v, iv, flipped.toString('base64url'), tag].join('.')]);
      await expect(opts.store.list()).rejects.toMatchObject({ name: 'ConfigError', variable: 'AUTH_KEYS_SECRET' });
    });
  });

  it('a server given another AUTH_KEYS_SECRET than the ring was sealed with stops with one line; given the same, it publishes that ring', async () => {
    const db = await instanceOnFreshSchema();
    const root = await tempDir('sl-pg-keys-');
    try {
      const keysSecret = secret();
      const ring = await KeyRing.open({ store: new PgKeyStore(db.store.pg, new KeySealer(keysSecret)), alg: 'ES256', retentionSeconds: 3600 });
      const env = processEnv(root, { DATABASE_URL: db.url, AUTH_KEYS_SECRET: secret(), PORT: '1', BIND_HOST: '127.0.0.1' });
      const child = spawn(process.execPath, [path.resolve('dist/main.js')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^configuration error: AUTH_KEYS_SECRET: does not open the signing key [\w-]+ stored in the database/)]);

      const server = await startServerProcess(processEnv(root, { DATABASE_URL: db.url, AUTH_KEYS_SECRET: keysSecret }));
      try {
        const published = (await (await fetch(`${server.base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
        expect(published.keys.map((k) => k.kid)).toEqual(ring.jwks().keys.map((k) => k.kid));
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    } finally {
      await fs.rm(root, { recursive: true, force: true });
      await db.drop();
    }
  });

  it('a rotation on one instance: another accepts its tokens within 5 s, signs with the new key and publishes it within 60 s', async () => {
    const schema = await freshSchema('keys');
    const keysSecret = secret();
    const clock = new ManualClock();
    const instances = await Promise.all([0, 1].map(() => openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 2 }) as Promise<PgMetadataStore>));
    try {
      const optsOf = (s: PgMetadataStore): KeyRingOptions => ({ store: new PgKeyStore(s.pg, new KeySealer(keysSecret)), alg: 'ES256', retentionSeconds: 3600, clock });
      const [a, b] = [optsOf(instances[0]!), optsOf(instances[1]!)];
      // Instance A; instance B, one ring that verifies tokens and one that only signs.
      const ringA = await KeyRing.open(a);
      const [verifying, signing] = [await KeyRing.open(b), await KeyRing.open(b)];
      const settings = { issuer: 'https://issuer.test', audience: 'files', accessTtlSeconds: 900, refreshTtlSeconds: 3600 };
      const subject = { userId: 'u', username: 'u', role: 'viewer' as const, scope: 'files:read' };
      const kidOf = async (ring: KeyRing) => decodeProtectedHeader((await new TokenSigner(ring, settings).issueAccess(subject)).token).kid;
      const first = ringA.signingKey().kid;
      expect(signing.signingKey().kid).toBe(first);

      clock.advance(1_000);
      const rotated = await KeyRing.rotate(a); // as `cli keys rotate` does, against the shared database
      expect(rotated).not.toBe(first);
      await ringA.reload();
      const fromA = (await new TokenSigner(ringA, settings).issueAccess(subject)).token;
      expect(decodeProtectedHeader(fromA).kid).toBe(rotated);

      clock.advance(4_001); // 5 s after B last read the ring, a token with an unknown kid makes it read again
      expect((await new TokenSigner(verifying, settings).verify(fromA, 'access')).sub).toBe('u');

      clock.advance(60_000 - 5_001 - 1); // 59.999 s after B's signing ring read the store
      expect(await kidOf(signing)).toBe(first);
      clock.advance(1);
      expect(await kidOf(signing)).toBe(rotated);
      expect(signing.jwks().keys.map((k) => k.kid).sort()).toEqual([first, rotated].sort());
    } finally {
      await Promise.all(instances.map((s) => s.close()));
      await schema.drop();
    }
  });
});
