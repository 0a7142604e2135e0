/**
 * The BlobStore conformance suite on S3 (STORAGE_BACKEND=s3 against the test Swift server), the
 * store opened as the server opens it (openBlobStore), in a bucket of its own with no prefix.
 * Then what only the S3 side can show: no object is visible before assemble, abort and a
 * failed one-request upload leave no multipart upload behind, and a store with S3_PREFIX keeps
 * everything it writes under that prefix.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open.js';
import { tempDir, testEnv } from '../helpers/app.js';
import { describeS3, freshS3, listMultipartUploads, listObjects, type S3Place } from '../helpers/s3.js';
import { blobStoreConformance } from './blob-store-conformance.js';

async function openS3(place: S3Place): Promise<{ store: BlobStore; root: string }> {
  const root = await tempDir('sl-s3-');
  return { store: await openBlobStore(loadConfig(testEnv(root, place.env))), root };
}

describeS3('S3 BlobStore', () => {
  blobStoreConformance('S3 (Swift s3api), bucket of its own, no prefix', async () => {
    const place = await freshS3('conf', { bucket: true });
    const { store, root } = await openS3(place);
    return {
      store,
      fresh: async () => (await openS3(place)).store,
      async cleanup() {
        await store.close();
        await place.drop();
        await fs.rm(root, { recursive: true, force: true });
      },
    };
  });
});

describeS3('S3 BlobStore, as S3 sees it', () => {
  const MiB = 1024 * 1024;
  let place: S3Place;
  let store: BlobStore;
  let root: string;
  beforeAll(async () => {
    place = await freshS3('raw');
    ({ store, root } = await openS3(place));
  });
  afterAll(async () => {
    await store?.close();
    await place?.drop();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });
  const key = (name: string) => `storage/raw-u/${randomBytes(16).toString('hex')}_${name}`;
  const visible = async (k: string) => (await listObjects(place.bucket, place.prefix)).some((o) => o.Key === place.prefix + k);

  it('keeps every object and multipart upload under S3_PREFIX; nothing is visible at the key before assemble', async () => {
    const up = await store.beginUpload('Raw' + randomBytes(8).toString('hex'), { size: 5 * MiB + 1, partSize: 5 * MiB, mime: 'text/plain' });
    const p1 = await store.writePart(up, 1, Readable.from([randomBytes(5 * MiB)]), { maxBytes: 5 * MiB });
    const p2 = await store.writePart(up, 2, Readable.from([Buffer.from('x')]), { maxBytes: 1 });
    const k = key('late.bin');
    expect(await visible(k)).toBe(false);
    expect(await store.stat(k)).toBeNull();
    expect((await listMultipartUploads(place.bucket, place.prefix)).length).toBeGreaterThan(0);
    await store.assemble(up, [{ partNumber: 1, ...p1 }, { partNumber: 2, ...p2 }], k);
    expect(await visible(k)).toBe(true);
    await store.abortUpload(up);
    // Everything the store wrote is under the prefix: nothing of it outside.
    const outside = (await listObjects(place.bucket, '')).filter((o) => !o.Key!.startsWith(place.prefix) && o.Key!.includes('raw-u'));
    expect(outside).toEqual([]);
  });

  it('abortUpload and a failed one-request upload leave no multipart upload behind', async () => {
    const before = new Set((await listMultipartUploads(place.bucket, place.prefix)).map((u) => u.UploadId));
    const up = await store.beginUpload('Raw' + randomBytes(8).toString('hex'), { size: 10 * MiB, partSize: 5 * MiB, mime: 'text/plain' });
    await store.writePart(up, 1, Readable.from([randomBytes(5 * MiB)]), { maxBytes: 5 * MiB });
    await store.abortUpload(up);
    const k = key('too-big.bin');
    await expect(store.writeObject(k, Readable.from([randomBytes(5 * MiB), randomBytes(5 * MiB)]), { maxBytes: 6 * MiB })).rejects.toMatchObject({ code: 'payload_too_large' });
    const left = (await listMultipartUploads(place.bucket, place.prefix)).filter((u) => !before.has(u.UploadId));
    expect(left).toEqual([]);
    expect(await visible(k)).toBe(false);
  });
});
