/**
 * A part written in place: straight into its region of the upload's data file (local-parts.ts),
 * so completing the upload links that file to its key instead of copying every byte again.
 *  - The region is claimed first, exclusively: one writer per region, ever, until the copy is
 *    discarded. A copy that finds the region claimed (a re-send while an earlier copy is held,
 *    a parallel duplicate, a copy cut short by a crash) is kept apart instead (null here), so
 *    no write ever lands on bytes another copy may be recorded with (F-09).
 *  - A copy is acknowledged only once its bytes are durable (fdatasync of the data file).
 *  - The service's part-write fence (fencedPartWrites) keeps every write out of the file once
 *    a completion has begun: the completion waits for the writes registered before it, this
 *    write stops when the fence's signal fires, and asks `beforeLastByte()` before it is
 *    acknowledged. A data file already linked to a key (nlink > 1: an earlier completion whose
 *    key is still there) is never written in place.
 *  - While it streams, an empty marker in .tmp names the writer (`<host>.<pid>.<random>`), as a
 *    temp file does: a crash leaves it, and the start-up clean-up of dead writers' files
 *    removes it (the region stays claimed by the cut copy: its re-send is kept apart).
 */
import { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UploadNotOpen } from '../errors/index.js';
import { isMissing } from './local-errno.js';
import type { UploadHandle, WriteOptions, WrittenPart } from './blob-store.js';
import { inPlaceRef, type Layout, type LocalParts, newAttempt, regionOf } from './local-parts.js';
import { HashingFileSink, ownsChunks } from './local-write.js';
import { syncPath } from '../util/fs.js';
import type { HashWorker } from '../util/hash-worker.js';

export { writeAllAt } from './local-write.js';

/**
 * Opens the data file, made at the upload's size by the first writer (sparse: no bytes yet);
 * null when a key holds it already (nlink > 1: an earlier completion's key is still there),
 * checked before anything could change its size.
 */
async function openData(parts: LocalParts, upload: UploadHandle, layout: Layout): Promise<FileHandle | null> {
  const fh = await fs.open(parts.data(upload), constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    const st = await fh.stat();
    if (st.nlink > 1) {
      await fh.close();
      return null;
    }
    if (st.size < layout.size) {
      await fh.truncate(layout.size); // grows only: two first writers agree on the size (made durable by the part's fdatasync)
      // The data file's name survives a power cut (with the claims made before it). The folder's
      // own name is not synced: lost, it takes every claim with it, and the parts read as missing.
      await syncPath(parts.folder(upload));
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Streams part n into its region; null (the body untouched) when the region is not free or the
 * part cannot live there (no region, or maxBytes past it): the caller keeps the copy apart.
 */
export async function writeInPlace(parts: LocalParts, hashes: HashWorker, upload: UploadHandle, layout: Layout, partNumber: number, body: Readable, opts: WriteOptions, marker: string): Promise<WrittenPart | null> {
  const region = regionOf(layout, partNumber);
  if (region.length === 0 || opts.maxBytes > region.length) return null;
  const ref = inPlaceRef(newAttempt());
  await fs.mkdir(parts.folder(upload), { recursive: true });
  // The folder removed right here (the upload aborted): the same answer as below.
  if (!(await parts.takeClaim(upload, partNumber, ref).catch((err: unknown) => Promise.reject(isMissing(err) ? new UploadNotOpen() : err)))) return null;
  let fh: FileHandle | null = null;
  let sink: HashingFileSink | null = null;
  try {
    await fs.writeFile(marker, `${upload.uploadId} ${partNumber}\n`, { flag: 'wx' });
    fh = await openData(parts, upload, layout);
    if (!fh) {
      await parts.release(upload, partNumber, ref);
      await fs.rm(marker, { force: true });
      return null; // the file is an object already: nothing may change under its key
    }
    const limits = { start: region.offset, limit: region.offset + region.length, maxBytes: opts.maxBytes, tooLarge: opts.tooLarge, own: ownsChunks(body) };
    sink = new HashingFileSink(fh, hashes.stream({ md5: opts.md5 !== false }), limits);
    const signal = opts.fence?.signal;
    await pipeline(body, sink, signal ? { signal } : {});
    if (opts.fence && !(await opts.fence.beforeLastByte())) throw new UploadNotOpen();
    // The last batches are hashed while the bytes go to the disk.
    const [written] = await Promise.all([sink.result(), sink.sync()]);
    await fh.close();
    fh = null;
    await fs.rm(marker, { force: true });
    return { ...written, ref };
  } catch (err) {
    sink?.discard();
    // A cut copy's bytes keep their blocks until the region is written again or the upload
    // ends; at the file's end they are freed now (cut off and the size restored, sparse): a
    // one-part upload refused on a full disk gives its room back, as a removed temp file did.
    if (fh && region.offset + region.length === layout.size) await fh.truncate(region.offset).then(() => fh!.truncate(layout.size)).catch(() => undefined);
    await fh?.close().catch(() => undefined);
    await parts.release(upload, partNumber, ref).catch(() => undefined);
    await fs.rm(marker, { force: true }).catch(() => undefined);
    // The folder gone under the write: the upload was aborted meanwhile (the service says 404).
    throw opts.fence?.signal.aborted || isMissing(err) ? new UploadNotOpen() : err;
  }
}
