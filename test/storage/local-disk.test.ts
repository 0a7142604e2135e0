/**
 * LocalDiskBlobStore: the conformance suite, plus what is particular to local disk: the
 * seed's layout (<root>/<key>, .parts/<id>/part_NNNNNN), temp files that never outlive a
 * failure, keys longer than the file system allows, and start-up clean-up.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDiskBlobStore } from '../../src/storage/local-disk.js';
import { Meter } from '../../src/storage/meter.js';
import { blobStoreConformance } from './blob-store-conformance.js';

async function freshStore(): Promise<{ store: LocalDiskBlobStore; root: string; cleanup(): Promise<void> }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-disk-'));
  const store = new LocalDiskBlobStore(root);
  await store.init();
  return { store, root, cleanup: () => fs.rm(root, { recursive: true, force: true }) };
}

blobStoreConformance('LocalDiskBlobStore', freshStore);

describe('LocalDiskBlobStore on disk', () => {
  let store: LocalDiskBlobStore;
  let root: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ store, root, cleanup } = await freshStore());
  });
  afterAll(async () => cleanup());

  const ls = (rel: string) => fs.readdir(path.join(root, rel)).catch(() => [] as string[]);
  const id = () => 'Up' + randomBytes(8).toString('hex');

  it('lays files out as the seed does: <root>/<key> and .parts/<uploadId>/part_NNNNNN', async () => {
    const upload = id();
    await store.writePart(upload, 12, Readable.from([Buffer.from('part')]), { maxBytes: 10 });
    expect(await ls(`.parts/${upload}`)).toEqual(['part_000012']);
    const key = `storage/u1/main/pictures/${'a'.repeat(32)}_photo 1.jpg`;
    await store.writeObject(key, Readable.from([Buffer.from('jpeg')]), { maxBytes: 10 });
    expect(store.pathOf(key)).toBe(path.join(root, key));
    expect(await fs.readFile(path.join(root, key), 'utf8')).toBe('jpeg');
  });

  it('writes through .tmp and leaves nothing there, whether the write succeeds or fails', async () => {
    const upload = id();
    await store.writePart(upload, 1, Readable.from([Buffer.from('ok')]), { maxBytes: 2 });
    await expect(store.writePart(upload, 2, Readable.from([Buffer.from('too long')]), { maxBytes: 2 })).rejects.toThrow();
    await expect(store.writePart(upload, 3, Readable.from([Buffer.from('xy')]), { maxBytes: 2, verify: () => { throw new Error('no'); } })).rejects.toThrow();
    const key = `storage/u1/${'b'.repeat(32)}_x`;
    await expect(store.writeObject(key, Readable.from([Buffer.from('too long')]), { maxBytes: 2 })).rejects.toThrow();
    expect(await ls('.tmp')).toEqual([]);
    expect(await ls(`.parts/${upload}`)).toEqual(['part_000001']);
    expect(await ls('storage/u1')).not.toContain(`${'b'.repeat(32)}_x`);
  });

  it('keeps keys the file system cannot hold (a 288-byte entry, a path past PATH_MAX) under .long/', async () => {
    const longName = `storage/u1/${'c'.repeat(32)}_${'n'.repeat(255)}`;
    const deep = `storage/u1/${Array.from({ length: 32 }, () => 'd'.repeat(200)).join('/')}/${'e'.repeat(32)}_f`;
    for (const key of [longName, deep]) {
      const where = store.pathOf(key);
      expect(where.startsWith(path.join(root, '.long') + path.sep)).toBe(true);
      expect(store.pathOf(key)).toBe(where); // deterministic
      await store.writeObject(key, Readable.from([Buffer.from('long')]), { maxBytes: 10 });
      expect(await fs.readFile(where, 'utf8')).toBe('long');
      await store.delete(key);
      expect(await store.stat(key)).toBeNull();
    }
    // A key right at the limits still maps to <root>/<key>.
    const fits = `storage/u1/${'g'.repeat(32)}_${'h'.repeat(222)}`;
    expect(store.pathOf(fits)).toBe(path.join(root, fits));
  });

  it('removeOrphans empties .tmp and drops unknown part folders', async () => {
    const known = id();
    await store.writePart(known, 1, Readable.from([Buffer.from('k')]), { maxBytes: 1 });
    await fs.writeFile(path.join(root, '.tmp', 'left-by-crash'), 'x');
    await fs.mkdir(path.join(root, '.parts', 'Orphan0000000000'), { recursive: true });
    const removed = await store.removeOrphans(async (ids) => new Set(ids.filter((i) => i === known)));
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await ls('.tmp')).toEqual([]);
    expect(await ls('.parts')).toEqual([known]);
  });

  it('refuses a key whose resolved path would leave the root', () => {
    for (const key of ['../outside', 'storage/../../outside', '/abs']) {
      expect(() => store.pathOf(key)).toThrow(expect.objectContaining({ code: 'invalid_key' }));
    }
  });
});

describe('Meter', () => {
  it('counts and hashes what passes, and fails with tooLarge() past the limit', async () => {
    const m = new Meter(5);
    const out: Buffer[] = [];
    m.on('data', (c: Buffer) => out.push(c));
    m.end(Buffer.from('hello'));
    await new Promise((r) => m.on('end', r));
    expect(m.result()).toEqual({ size: 5, sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', md5: '5d41402abc4b2a76b9719d911017c592' });
    const tight = new Meter(4, { tooLarge: () => new Error('over') });
    const failed = new Promise((resolve) => tight.on('error', resolve));
    tight.write(Buffer.from('hello'));
    expect(await failed).toMatchObject({ message: 'over' });
  });
});
