/**
 * The disk store's copy-free completion: parts written in place into one data file per upload,
 * the region of each claimed by one copy, re-sends kept apart and placed at completion, the
 * whole-file digest chained in the background, the data file linked to the key. And what must
 * not change: no key's bytes ever change afterwards, a refused write leaves its region free,
 * and uploads whose parts were written before (part_n / part_n.attempt files) still complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartRef, PartWriteFence, UploadHandle, WrittenPart } from '../../src/storage/blob-store.js';
import { LocalDiskBlobStore } from '../../src/storage/local-disk.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const KiB = 1024;
const MiB = 1024 * KiB;
const ref = (n: number, w: WrittenPart): PartRef => ({ partNumber: n, ref: w.ref, size: w.size, sha256: w.sha256 });
const split = (data: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));
const ids = { n: 0 };
const uploadId = () => `InPlace${++ids.n}${randomBytes(6).toString('hex')}`;
const key = (name: string) => `storage/ip-u/${randomBytes(16).toString('hex')}_${name}`;
async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
/** A fence whose last-byte check answers `open`, and whose signal the test fires. */
const fenceOf = (open: boolean) => {
  const abort = new AbortController();
  const fence: PartWriteFence = { signal: abort.signal, beforeLastByte: async () => open, inDoubt: () => undefined };
  return { fence, abort };
};

describe('LocalDiskBlobStore: parts in place, completion without a copy', () => {
  let root: string;
  let store: LocalDiskBlobStore;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-inplace-'));
    store = new LocalDiskBlobStore(root);
    await store.init();
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  const area = (up: UploadHandle, name = '') => path.join(root, '.parts', up.uploadId, name);
  const begin = (size: number, partSize: number) => store.beginUpload(uploadId(), { size, partSize, mime: 'application/octet-stream' });
  const write = (up: UploadHandle, n: number, b: Buffer, extra: object = {}) => store.writePart(up, n, Readable.from([b.subarray(0, 1000), b.subarray(1000)]), { maxBytes: b.length, md5: false, ...extra });
  const writeAll = async (up: UploadHandle, parts: Buffer[], order: number[]) => {
    const written = await Promise.all(order.map(async (i) => [i, await write(up, i + 1, parts[i]!)] as const));
    return written.sort(([a], [b]) => a - b).map(([i, w]) => ref(i + 1, w));
  };

  it('parallel parts land in one data file; the key is that very file (a link, no copy) and the digest comes from the chain', async () => {
    const data = randomBytes(20 * MiB + 123); // over the 16 MiB below which the object is re-hashed whole
    const parts = split(data, 4 * MiB);
    const up = await begin(data.length, 4 * MiB);
    const refs = await writeAll(up, parts, [5, 2, 3, 0, 4, 1]);
    expect(refs.every((r) => r.ref.startsWith('i.'))).toBe(true);
    expect((await fs.readdir(area(up))).filter((f) => f.startsWith('part_'))).toEqual([]);
    expect(await store.chains.covered(up.uploadId, refs)).toBe(parts.length); // every part chained, out of order as they came
    const k = key('whole.bin');
    expect(await store.assemble(up, refs, k, { sha256: sha(data) })).toEqual({ size: data.length, sha256: sha(data) });
    const [obj, dataFile] = await Promise.all([fs.stat(store.pathOf(k)), fs.stat(area(up, 'data'))]);
    expect(obj.ino).toBe(dataFile.ino);
    expect(Date.now() - obj.mtimeMs).toBeLessThan(5_000); // young for the orphan sweep
    expect(sha(await collect(await store.read(k)))).toBe(sha(data));
    await store.abortUpload(up);
    expect(sha(await fs.readFile(store.pathOf(k)))).toBe(sha(data));
  });

  it('a re-send while the region is held is kept apart and placed at completion; the chain is not trusted for it', async () => {
    const data = randomBytes(18 * MiB);
    const parts = split(data, 6 * MiB);
    const up = await begin(data.length, 6 * MiB);
    const refs = await writeAll(up, [randomBytes(6 * MiB), parts[1]!, parts[2]!], [0, 1, 2]); // part 1 with the wrong bytes first
    const resent = await write(up, 1, parts[0]!);
    expect(resent.ref).toMatch(/^[0-9a-f]{16}$/); // apart: the region is the first copy's
    expect((await fs.readFile(area(up, `part_000001.${resent.ref}`))).equals(parts[0]!)).toBe(true);
    await store.discardPart(up, refs[0]!); // the service: the re-send recorded, the first copy discarded
    const named = [ref(1, resent), refs[1]!, refs[2]!];
    expect(await store.chains.covered(up.uploadId, named)).toBe(0); // the chain holds the first copy: read back
    const k = key('resent.bin');
    expect(await store.assemble(up, named, k)).toEqual({ size: data.length, sha256: sha(data) });
    expect((await fs.readFile(store.pathOf(k))).equals(data)).toBe(true);
    expect(await fs.readlink(area(up, 'claim_000001'))).toBe(resent.ref); // the region now holds the re-send
  });

  it('a copy still holding the region another copy is placed in is moved apart: each joins with its own bytes until discarded', async () => {
    const up = await begin(2 * MiB, MiB);
    const [a, b, c] = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
    const first = await write(up, 1, a);
    const second = await write(up, 1, b); // apart: the region is the first's
    const two = await write(up, 2, c);
    const joined = async (w: WrittenPart) => {
      const k = key('either.bin');
      await store.assemble(up, [ref(1, w), ref(2, two)], k);
      return fs.readFile(store.pathOf(k));
    };
    expect((await joined(second)).equals(Buffer.concat([b, c]))).toBe(true); // the first copy moved out of the region
    expect((await joined(first)).equals(Buffer.concat([a, c]))).toBe(true);
    expect((await joined(second)).equals(Buffer.concat([b, c]))).toBe(true);
    await store.discardPart(up, ref(1, first));
    await expect(store.assemble(up, [ref(1, first), ref(2, two)], key('gone.bin'))).rejects.toMatchObject({ code: 'upload_incomplete', details: { missing_parts: [1] } });
  });

  it('no key ever changes: a data file linked to a key takes no write in place, and joining other copies first copies the file', async () => {
    const data = randomBytes(2 * MiB);
    const up = await begin(data.length, MiB);
    const refs = await writeAll(up, split(data, MiB), [0, 1]);
    const k = key('first.bin');
    await store.assemble(up, refs, k);
    await store.discardPart(up, refs[0]!); // region 1 is free again, but the file is the object now
    const other = randomBytes(MiB);
    const again = await write(up, 1, other);
    expect(again.ref).toMatch(/^[0-9a-f]{16}$/);
    const k2 = key('second.bin');
    await store.assemble(up, [ref(1, again), refs[1]!], k2);
    expect((await fs.readFile(store.pathOf(k))).equals(data)).toBe(true);
    expect((await fs.readFile(store.pathOf(k2))).equals(Buffer.concat([other, data.subarray(MiB)]))).toBe(true);
    expect((await fs.stat(store.pathOf(k))).ino).not.toBe((await fs.stat(store.pathOf(k2))).ino);
  });

  it('an upload shorter than its area was made for (a tus length sent late) is cut to size and linked; not while a copy holds a region past it', async () => {
    const data = randomBytes(2 * MiB + 5);
    const short = await begin(4 * MiB, MiB); // the reservation: 4 parts' room
    const refs = await writeAll(short, split(data, MiB), [2, 0, 1]);
    const k = key('short.bin');
    expect(await store.assemble(short, refs, k)).toEqual({ size: data.length, sha256: sha(data) });
    expect((await fs.stat(store.pathOf(k))).ino).toBe((await fs.stat(area(short, 'data'))).ino);
    expect((await fs.readFile(store.pathOf(k))).equals(data)).toBe(true);

    const held = await begin(4 * MiB, MiB);
    const heldRefs = await writeAll(held, split(data, MiB), [0, 1, 2]);
    const past = await write(held, 4, randomBytes(MiB)); // in place, past the object's end
    const k2 = key('held.bin');
    expect(await store.assemble(held, heldRefs, k2)).toEqual({ size: data.length, sha256: sha(data) });
    expect((await fs.stat(store.pathOf(k2))).ino).not.toBe((await fs.stat(area(held, 'data'))).ino); // copied: the file keeps its size
    expect(await fs.readlink(area(held, 'claim_000004'))).toBe(past.ref);
  });

  it('refuses a digest that does not match before joining: no key', async () => {
    const up = await begin(2 * MiB, MiB);
    const refs = await writeAll(up, [randomBytes(MiB), randomBytes(MiB)], [1, 0]);
    const k = key('bad.bin');
    await expect(store.assemble(up, refs, k, { sha256: sha(Buffer.from('other')) })).rejects.toMatchObject({ code: 'checksum_mismatch' });
    expect(await store.stat(k)).toBeNull();
  });

  it('behind the fence: a write refused at its last byte, or withdrawn mid-body, is UploadNotOpen and frees its region', async () => {
    const up = await begin(2 * MiB, MiB);
    const refused = fenceOf(false);
    await expect(write(up, 1, randomBytes(MiB), { fence: refused.fence })).rejects.toMatchObject({ code: 'upload_not_open' });
    const withdrawn = fenceOf(true);
    const body = new Readable({ read() {} });
    const pending = store.writePart(up, 2, body, { maxBytes: MiB, fence: withdrawn.fence });
    body.push(randomBytes(64 * KiB));
    // The marker of a write in flight is in .tmp, named after its writer (a crash leaves it to the start-up clean-up).
    await expect.poll(async () => (await fs.readdir(path.join(root, '.tmp'))).length).toBe(1);
    withdrawn.abort.abort();
    await expect(pending).rejects.toMatchObject({ code: 'upload_not_open' });
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    expect((await fs.readdir(area(up))).sort()).toEqual(['data']); // no claim left: both regions free
    const ok = await write(up, 1, randomBytes(MiB), { fence: fenceOf(true).fence });
    expect(ok.ref).toMatch(/^i\./);
    // A one-part upload refused gives its room back (as a removed temp file did): a full disk stays usable.
    const single = await begin(MiB, MiB);
    await expect(write(single, 1, randomBytes(MiB), { fence: fenceOf(false).fence })).rejects.toMatchObject({ code: 'upload_not_open' });
    expect((await fs.stat(area(single, 'data'))).blocks).toBe(0);
  });

  it('uploads opened before parts went in place (ref "", part_n and part_n.attempt files) still complete after an upgrade', async () => {
    const data = randomBytes(3 * MiB);
    const legacy: UploadHandle = { uploadId: uploadId(), ref: '' };
    await fs.mkdir(area(legacy), { recursive: true });
    await fs.writeFile(area(legacy, 'part_000001'), data.subarray(0, MiB)); // before attempts existed
    await fs.writeFile(area(legacy, 'part_000002.0123456789abcdef'), data.subarray(MiB, 2 * MiB));
    const third = await write(legacy, 3, data.subarray(2 * MiB)); // a part sent after the upgrade: kept apart too
    expect(third.ref).toMatch(/^[0-9a-f]{16}$/);
    const parts: PartRef[] = [
      { partNumber: 1, ref: '', size: MiB, sha256: sha(data.subarray(0, MiB)) },
      { partNumber: 2, ref: '0123456789abcdef', size: MiB, sha256: sha(data.subarray(MiB, 2 * MiB)) },
      ref(3, third),
    ];
    const k = key('legacy.bin');
    expect(await store.assemble(legacy, parts, k)).toEqual({ size: data.length, sha256: sha(data) });
    expect((await fs.readFile(store.pathOf(k))).equals(data)).toBe(true);
  });
});
