/**
 * What the store holds, asked through the BlobStore port so the upload suites run unchanged on
 * any store: the objects under a prefix, half-written leftovers, and the copies of parts the
 * services wrote (watched on the server's own store object) and whether each is still held.
 */
import { randomBytes } from 'node:crypto';
import type { UploadHandle, WrittenPart } from '../../src/storage/blob-store.js';
import type { S3BlobStore } from '../../src/storage/s3/s3-store.js';
import type { TestServer } from '../helpers/app.js';

/**
 * The keys of the objects the store holds under `prefix`, through the port (any store). The
 * port lists objects only for the orphan scan: with a cut-off of 0 no object is old enough to
 * go, and every page is answered "named", so the scan removes nothing and shows every key.
 * (An object kept under a digest because its key is too long for the store is not listed.)
 */
export async function objectKeys(s: TestServer, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  const removed = await s.app.ctx.blobs.removeOrphanObjects({
    writtenBefore: 0,
    named: async (page) => {
      keys.push(...page.filter((key) => key.startsWith(prefix)));
      return new Set(page);
    },
    longKeys: async function* () {},
  });
  if (removed !== 0) throw new Error(`the listing scan removed ${removed} objects`);
  return keys.sort();
}

/**
 * How many half-written leftovers (temporary files, on disk) the store held, through the port.
 * Counting removes them, so call it only while nothing is being written.
 */
export function halfWritten(s: TestServer): Promise<number> {
  return s.app.ctx.blobs.removeTemporary(Number.MAX_SAFE_INTEGER);
}

/** One writePart call the services made, as watchPartWrites saw it. */
export interface PartWrite {
  upload: UploadHandle;
  partNumber: number;
  /** The copy the store returned; null while it streams, or when the write failed. */
  written: WrittenPart | null;
  done: boolean;
  /** Resolves when the write has ended, either way. */
  settled: Promise<void>;
}

export interface PartWrites {
  /** Every write seen, oldest first (of one upload, and one part, when given). */
  of(uploadId?: string, partNumber?: number): PartWrite[];
  /** Writes still streaming: a part the server is receiving right now. */
  streaming(): number;
  restore(): void;
}

/**
 * Watches BlobStore.writePart on the server's own store (the services hold the same object),
 * so a test can tell when a part is being received and which copies were written, on any store.
 */
export function watchPartWrites(s: TestServer): PartWrites {
  const blobs = s.app.ctx.blobs;
  const original = blobs.writePart;
  const writes: PartWrite[] = [];
  blobs.writePart = (upload, partNumber, body, opts) => {
    const result = original.call(blobs, upload, partNumber, body, opts);
    const write: PartWrite = { upload, partNumber, written: null, done: false, settled: Promise.resolve() };
    write.settled = result.then(
      (copy) => void (write.written = copy),
      () => undefined,
    ).finally(() => void (write.done = true));
    writes.push(write);
    return result;
  };
  return {
    of: (uploadId, partNumber) => writes.filter((w) => (uploadId === undefined || w.upload.uploadId === uploadId) && (partNumber === undefined || w.partNumber === partNumber)),
    streaming: () => writes.filter((w) => !w.done).length,
    restore: () => void (blobs.writePart = original),
  };
}

/**
 * Whether the store still holds this copy of a part: only a held copy can be assembled. The
 * probe object is deleted again; the part itself stays (assemble never consumes parts on
 * disk). On S3 assemble joins the multipart upload's parts for good (CompleteMultipartUpload:
 * the parts it does not name are gone), so the store is asked through its read-only probe.
 */
export async function holdsCopy(s: TestServer, w: PartWrite): Promise<boolean> {
  if (!w.written) return false;
  const { blobs } = s.app.ctx;
  const s3 = blobs as Partial<Pick<S3BlobStore, 'holdsCopy'>>;
  if (s3.holdsCopy) return s3.holdsCopy(w.upload, { partNumber: w.partNumber, ref: w.written.ref });
  const key = `storage/probe/${randomBytes(16).toString('hex')}_copy`;
  const part = { partNumber: w.partNumber, ref: w.written.ref, size: w.written.size, sha256: w.written.sha256 };
  const held = await blobs.assemble(w.upload, [part], key).then(
    () => true,
    () => false,
  );
  await blobs.delete(key);
  return held;
}
