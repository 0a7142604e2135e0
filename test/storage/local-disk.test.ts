/**
 * LocalDiskBlobStore: the conformance suite, plus what is particular to local disk: the
 * seed's layout (<root>/<key>; parts in .parts/<id>/, see local-inplace.test.ts), temp files that never
 * outlive a failure, keys longer than the file system allows, and start-up clean-up.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDiskBlobStore } from '../../src/storage/local-disk.js';
import { Meter } from '../../src/storage/meter.js';
import { blobStoreConformance } from './blob-store-conformance.js';

async function freshStore(): Promise<{ store: LocalDiskBlobStore; root: string; fresh(): Promise<LocalDiskBlobStore>; cleanup(): Promise<void> }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-disk-'));
  const store = new LocalDiskBlobStore(root);
  await store.init();
  const fresh = async () => {
    const other = new LocalDiskBlobStore(root);
    await other.init();
    return other;
  };
  return { store, root, fresh, cleanup: () => fs.rm(root, { recursive: true, force: true }) };
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
  const begin = () => store.beginUpload('Up' + randomBytes(8).toString('hex'), { size: 10, partSize: 10, mime: 'text/plain' });

  it('lays files out as the seed does: <root>/<key> and .parts/<uploadId>/part_NNNNNN.<attempt>', async () => {
    const upload = await begin();
    const w = await store.writePart(upload, 12, Readable.from([Buffer.from('part')]), { maxBytes: 10 });
    expect(w.ref).toMatch(/^[0-9a-f]{16}$/);
    expect(await ls(`.parts/${upload.uploadId}`)).toEqual([`part_000012.${w.ref}`]);
    const key = `storage/u1/main/pictures/${'a'.repeat(32)}_photo 1.jpg`;
    await store.writeObject(key, Readable.from([Buffer.from('jpeg')]), { maxBytes: 10 });
    expect(store.pathOf(key)).toBe(path.join(root, key));
    expect(await fs.readFile(path.join(root, key), 'utf8')).toBe('jpeg');
  });

  it('reads a part recorded before attempts existed (ref "") under its old name', async () => {
    const upload = await begin();
    await fs.mkdir(path.join(root, '.parts', upload.uploadId), { recursive: true });
    await fs.writeFile(path.join(root, '.parts', upload.uploadId, 'part_000001'), 'legacy');
    const key = `storage/u1/${'f'.repeat(32)}_legacy.txt`;
    expect(await store.assemble(upload, [{ partNumber: 1, ref: '', size: 6, sha256: '' }], key)).toMatchObject({ size: 6 });
    expect(await fs.readFile(store.pathOf(key), 'utf8')).toBe('legacy');
    await expect(store.discardPart(upload, { partNumber: 1, ref: '../../x' })).rejects.toThrow(/invalid part reference/);
  });

  it('writes through .tmp and leaves nothing there, whether the write succeeds or fails', async () => {
    const upload = await begin();
    const ok = await store.writePart(upload, 1, Readable.from([Buffer.from('ok')]), { maxBytes: 2 });
    await expect(store.writePart(upload, 2, Readable.from([Buffer.from('too long')]), { maxBytes: 2 })).rejects.toThrow();
    const key = `storage/u1/${'b'.repeat(32)}_x`;
    await expect(store.writeObject(key, Readable.from([Buffer.from('too long')]), { maxBytes: 2 })).rejects.toThrow();
    expect(await ls('.tmp')).toEqual([]);
    // Part 1 went in place (its region claimed by the copy), the refused part 2 left nothing.
    expect((await ls(`.parts/${upload.uploadId}`)).sort()).toEqual(['claim_000001', 'data']);
    expect(await fs.readlink(path.join(root, '.parts', upload.uploadId, 'claim_000001'))).toBe(ok.ref);
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

  it('removeTemporary drops .tmp files of dead local writers at once and others once untouched since the cut-off; uploadAreas ignores stray names', async () => {
    const stale = path.join(root, '.tmp', 'left-by-crash');
    await fs.writeFile(stale, 'x');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await fs.utimes(stale, hourAgo, hourAgo);
    await fs.writeFile(path.join(root, '.tmp', 'being-written'), 'y');
    expect(await store.removeTemporary(Date.now() - 60_000)).toBe(1);
    expect(await ls('.tmp')).toEqual(['being-written']);
    expect(await store.removeTemporary(Date.now() + 1000)).toBe(1);
    expect(await ls('.tmp')).toEqual([]);
    // A writer of this machine that has ended (a crash) loses its file at once, whatever its
    // age; a running one (another instance on this root) keeps its fresh file.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const host = os.hostname();
    await fs.writeFile(path.join(root, '.tmp', `${host}.${dead}.0123456789abcdef`), 'cut');
    await fs.writeFile(path.join(root, '.tmp', `${host}.${process.ppid}.0123456789abcdef`), 'live');
    await fs.writeFile(path.join(root, '.tmp', `other-host.${dead}.0123456789abcdef`), 'elsewhere');
    expect(await store.removeTemporary(Date.now() - 60_000)).toBe(1);
    expect((await ls('.tmp')).sort()).toEqual([`${host}.${process.ppid}.0123456789abcdef`, `other-host.${dead}.0123456789abcdef`].sort());
    await fs.rm(path.join(root, '.tmp'), { recursive: true });
    await fs.mkdir(path.join(root, '.tmp'));

    await fs.mkdir(path.join(root, '.parts', '..not-an-id'), { recursive: true });
    const ids: string[] = [];
    for await (const page of store.uploadAreas(Date.now() + 60_000)) ids.push(...page.map((a) => a.handle.uploadId));
    expect(ids).not.toContain('..not-an-id');
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
