/**
 * The S3 store's held parts on local disk (part-spool.ts, part-chain.ts), against the real
 * test S3 server: parts that arrive before the one ahead of them are spooled to a scratch
 * directory and read back into the whole-file hash chain, so a completion right after the
 * last part gets the digest (nothing read back); a spool that cannot be written or is cut
 * short leaves the part out (digest null, never wrong); abort and close delete the files; a
 * crashed process's directory goes at start.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { PartRef, UploadHandle } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open.js';
import { MAX_PENDING, SPOOL_PAUSE, SpoolDir } from '../../src/storage/s3/part-spool.js';
import type { S3BlobStore, S3StoreOptions } from '../../src/storage/s3/s3-store.js';
import { tempDir, testEnv } from '../helpers/app.js';
import { describeS3, freshS3, s3Env, s3StoreOn, type S3Place } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const P = 5 * MiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const key = () => `storage/s3-spool/${randomBytes(16).toString('hex')}_f.bin`;
const uploadId = () => 'S3s' + randomBytes(9).toString('hex');

/**
 * A body as a socket delivers it: 64 KiB chunks, ≤ 256 KiB per millisecond (an in-memory
 * stream would outrun any disk on a loaded machine: its spool would lag past MAX_PENDING).
 */
function body(b: Buffer): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < b.length; at += 64 * 1024) {
        yield b.subarray(at, at + 64 * 1024);
        if (at % (256 * 1024) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })(),
  );
}

/** The spool files under `parent` (every store's scratch directory), with their sizes. */
async function spooled(parent: string): Promise<{ dir: string; files: { name: string; size: number }[] }[]> {
  const out = [];
  for (const d of (await fs.readdir(parent)).filter((n) => n.startsWith('sl-s3-spool.'))) {
    const dir = path.join(parent, d);
    const names = await fs.readdir(dir);
    out.push({ dir, files: await Promise.all(names.map(async (name) => ({ name, size: (await fs.stat(path.join(dir, name))).size }))) });
  }
  return out;
}

describeS3('S3 store: held parts spooled to local disk', () => {
  let place: S3Place;
  let parent: string;
  let store: S3BlobStore;
  const storeOn = (opts: S3StoreOptions) => s3StoreOn(place, opts);
  beforeAll(async () => {
    place = await freshS3('s3spool');
    parent = await tempDir('sl-spool-');
    store = storeOn({ spoolDir: parent });
  });
  afterAll(async () => {
    await store?.close();
    await place?.drop();
  });

  /** Parts `order` of `parts` (1-based numbers) written at once; their refs by number. */
  const write = async (on: S3BlobStore, up: UploadHandle, parts: Buffer[], order: number[]) => {
    const refs = await Promise.all(order.map(async (n) => ({ n, w: await on.writePart(up, n, body(parts[n - 1]!), { maxBytes: parts[n - 1]!.length, md5: false }) })));
    return Object.fromEntries(refs.map(({ n, w }) => [n, { partNumber: n, ref: w.ref, size: w.size, sha256: w.sha256 } satisfies PartRef]));
  };
  const begin = (on: S3BlobStore, size: number) => on.beginUpload(uploadId(), { size, partSize: P, mime: 'application/octet-stream' });

  it('parts 4, 3, 2 (2 sent twice) held on disk while 1 is missing; completing right after part 1 gets the chain\'s digest, the spool files gone', async () => {
    const parts = [randomBytes(P), randomBytes(P), randomBytes(P), randomBytes(17)];
    const whole = Buffer.concat(parts);
    const up = await begin(store, whole.length);
    const refs = await write(store, up, [parts[0]!, randomBytes(P), ...parts.slice(2)], [4, 3, 2]);
    Object.assign(refs, await write(store, up, parts, [2])); // re-sent: replaces the held copy and its file
    const [scratch] = await spooled(parent);
    expect(scratch!.files.map((f) => f.size).sort()).toEqual([17, P, P]); // one file per held part, the bytes on disk
    expect((await fs.stat(scratch!.dir)).mode & 0o777).toBe(0o700);
    expect(store.chains.holding).toBe(2 * P + 17);
    // Part 1's record starts the join of 2–4 (read back from disk): the completion that
    // follows at once must wait for it, or it would find the chain at part 1 (null).
    Object.assign(refs, await write(store, up, parts, [1]));
    const out = await store.assemble(up, [1, 2, 3, 4].map((n) => refs[n]!), key());
    expect(out).toEqual({ size: whole.length, sha256: sha(whole) });
    expect(store.chains.holding).toBe(0);
    expect((await spooled(parent))[0]!.files).toEqual([]);
    await store.abortUpload(up);
  });

  it('a spool that cannot be written or was cut short leaves its part out: digest null, the object read back is right', async () => {
    const parts = [randomBytes(P), randomBytes(P), randomBytes(99)];
    const whole = Buffer.concat(parts);
    const blocked = path.join(parent, 'a-file');
    await fs.writeFile(blocked, 'not a folder');
    const unwritable = storeOn({ spoolDir: path.join(blocked, 'spool') }); // ENOTDIR
    try {
      const up = await begin(unwritable, whole.length);
      const refs = await write(unwritable, up, parts, [3, 2]);
      Object.assign(refs, await write(unwritable, up, parts, [1]));
      const k = key();
      expect(await unwritable.assemble(up, [1, 2, 3].map((n) => refs[n]!), k)).toEqual({ size: whole.length, sha256: null });
      const back = createHash('sha256');
      for await (const c of await unwritable.read(k)) back.update(c as Buffer);
      expect(back.digest('hex')).toBe(sha(whole)); // what the service's read-back hashes
      await unwritable.abortUpload(up);
      expect(unwritable.chains.holding).toBe(0);
    } finally {
      await unwritable.close();
    }
    // Written whole, then cut short on disk before its turn: the length read back says so.
    const up = await begin(store, whole.length);
    const refs = await write(store, up, parts, [3, 2]);
    const [scratch] = await spooled(parent);
    const cut = scratch!.files.find((f) => f.size === P)!;
    await fs.truncate(path.join(scratch!.dir, cut.name), P - 1);
    Object.assign(refs, await write(store, up, parts, [1]));
    expect(await store.chains.digest(up.uploadId, [1, 2, 3].map((n) => refs[n]!))).toBeNull();
    await store.abortUpload(up);
    expect(store.chains.holding).toBe(0);
  });

  it('abort deletes an upload\'s held parts; close deletes the scratch directory', async () => {
    const own = await tempDir('sl-spool-');
    const s = storeOn({ spoolDir: own });
    const parts = [randomBytes(1000), randomBytes(1000), randomBytes(10)];
    const up = await begin(s, 2010);
    await write(s, up, parts, [2, 3]);
    expect((await spooled(own))[0]!.files).toHaveLength(2);
    await s.abortUpload(up);
    expect((await spooled(own))[0]!.files).toEqual([]);
    expect(s.chains.holding).toBe(0);
    const other = await begin(s, 2010);
    await write(s, other, parts, [3]);
    expect((await spooled(own))[0]!.files).toHaveLength(1);
    await s.close();
    expect(await spooled(own)).toEqual([]);
  });

  it('a spool file past SPOOL_PAUSE queued bytes makes its body wait until written; one that would queue more than MAX_PENDING fails (the part is left out) instead of buffering', async () => {
    const dir = new SpoolDir(await tempDir('sl-spool-'));
    const paced = dir.file('paced');
    const bytes = randomBytes(SPOOL_PAUSE + MiB);
    for (let at = 0; at < bytes.length; at += 64 * 1024) expect(paced.append(bytes.subarray(at, at + 64 * 1024))).toBe(true);
    const drained = paced.drained();
    expect(drained).toBeInstanceOf(Promise); // nothing written yet: the body must wait
    await drained;
    expect(paced.drained()).toBeNull();
    const hash = createHash('sha256');
    expect(await paced.feed(hash, Buffer.alloc(100_000), bytes.length)).toBe(true);
    expect(hash.digest('hex')).toBe(sha(bytes));

    const file = dir.file('lagging');
    const chunk = randomBytes(MiB);
    const taken = Array.from({ length: MAX_PENDING / MiB + 1 }, () => file.append(chunk)); // no write can end meanwhile
    expect(taken).toEqual([...Array<boolean>(MAX_PENDING / MiB).fill(true), false]);
    expect(await file.feed(createHash('sha256'), Buffer.alloc(1024), MAX_PENDING)).toBe(false);
    expect(file.append(chunk)).toBe(false);
    await dir.close();
  });

  it('at start, the scratch directories of ended processes of this machine go (UPLOAD_ROOT/.tmp); a live process\'s stay', async () => {
    const root = await tempDir('sl-spool-root-');
    const tmp = path.join(root, '.tmp');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // ended: its pid answers ESRCH
    const names = {
      dead: `sl-s3-spool.${os.hostname()}.${dead}.0123456789abcdef`,
      live: `sl-s3-spool.${os.hostname()}.${process.ppid}.0123456789abcdef`,
      elsewhere: `sl-s3-spool.other-host.${dead}.0123456789abcdef`,
    };
    for (const n of Object.values(names)) {
      await fs.mkdir(path.join(tmp, n), { recursive: true });
      await fs.writeFile(path.join(tmp, n, 'u.2.1'), randomBytes(100));
    }
    const opened = (await openBlobStore(loadConfig(testEnv(root, s3Env(place))))) as S3BlobStore;
    try {
      expect((await fs.readdir(tmp)).sort()).toEqual([names.elsewhere, names.live].sort());
      const up = await begin(opened, 2010);
      await write(opened, up, [randomBytes(1000), randomBytes(1000), randomBytes(10)], [2]);
      const mine = (await spooled(tmp)).filter((d) => path.basename(d.dir).includes(`.${process.pid}.`));
      expect(mine.map((d) => d.files.length)).toEqual([1]); // this process's directory, there
      await opened.abortUpload(up);
    } finally {
      await opened.close();
    }
  });
});
