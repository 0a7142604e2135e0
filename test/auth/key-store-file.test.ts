/**
 * FileKeyStore: the KeyStore conformance suite, plus what only files have: the layout that
 * earlier versions wrote (so existing AUTH_KEYS_DIRs keep working) and the file modes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../src/auth/key-store-file.js';
import { KeyRing } from '../../src/auth/keyring.js';
import { tempDir } from '../helpers/app.js';
import { keyStoreConformance } from './key-store-conformance.js';

keyStoreConformance('FileKeyStore', async () => {
  const root = await tempDir('sl-keystore-');
  const dir = path.join(root, 'keys'); // not there yet: the store creates it
  return {
    store: new FileKeyStore(dir),
    opener: { module: new URL('./tasks/file-key-store.mjs', import.meta.url).href, options: { dir } },
    cleanup: () => fs.rm(root, { recursive: true, force: true }),
  };
});

describe('FileKeyStore on disk', () => {
  it('writes <kid>.json files, 0600 in a 0700 directory, and reads a directory an earlier version wrote', async () => {
    const root = await tempDir('sl-keystore-');
    try {
      const dir = path.join(root, 'keys');
      const ring = await KeyRing.open({ store: new FileKeyStore(dir), alg: 'ES256', retentionSeconds: 60 });
      const kid = ring.signingKey().kid;
      expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
      expect(await fs.readdir(dir)).toEqual([`${kid}.json`]);
      expect((await fs.stat(path.join(dir, `${kid}.json`))).mode & 0o777).toBe(0o600);
      const onDisk = JSON.parse(await fs.readFile(path.join(dir, `${kid}.json`), 'utf8'));
      expect(Object.keys(onDisk).sort()).toEqual(['alg', 'createdAt', 'kid', 'privateJwk', 'retiredAt']);

      // The same files, as the pre-KeyStore ring left them (a temp file of an interrupted write
      // beside them, a stray file), open to the same key.
      await fs.writeFile(path.join(dir, `${kid}.json.1234.tmp`), '{');
      await fs.writeFile(path.join(dir, 'README.txt'), 'not a key');
      const again = await KeyRing.open({ store: new FileKeyStore(dir), alg: 'ES256', retentionSeconds: 60 });
      expect(again.signingKey().kid).toBe(kid);
      expect(again.jwks()).toEqual(ring.jwks());
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('a retirement rewrites the file whole and keeps its mode', async () => {
    const root = await tempDir('sl-keystore-');
    try {
      const store = new FileKeyStore(root);
      const first = (await KeyRing.open({ store, alg: 'EdDSA', retentionSeconds: 60 })).signingKey().kid;
      await KeyRing.rotate({ store, alg: 'EdDSA', retentionSeconds: 60 });
      expect((await fs.stat(path.join(root, `${first}.json`))).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await fs.readFile(path.join(root, `${first}.json`), 'utf8')).retiredAt).toEqual(expect.any(Number));
      expect((await fs.readdir(root)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
