/**
 * Completing an upload on disk. Parts written in place (local-inplace.ts) already are the file,
 * so the usual completion copies nothing:
 *  1. every copy the record names is checked to be held (an in-place copy holds its region's
 *     claim; a copy kept apart has its file); one that is not → upload_incomplete, nothing changed;
 *  2. copies kept apart (re-sends: rare) are copied into their regions, which they then claim,
 *     and the data file is fdatasync'ed (in-place copies were durable when acknowledged);
 *  3. the whole file's SHA-256: the chain's (local-chain.ts) for the longest prefix it holds
 *     with these very copies, the rest read back now; a file up to VERIFY_HASH_MAX is hashed
 *     whole from what is under the key, the digest recorded for a lone part otherwise;
 *  4. the data file is linked to the key (through .tmp and a rename, then the folder fsync'ed),
 *     its mtime set to now for the orphan sweep's age rule. The parts stay until abortUpload,
 *     so a failed completion can be retried. A data file already linked elsewhere (an earlier
 *     completion's key still there) is first copied, so no key's bytes ever change.
 * Late part writes cannot reach the linked file: the service's part-write fence
 * (fencedPartWrites) has every write registered before the completion ended first, and no new
 * one may begin. Uploads whose parts do not tile the data file (opened before in-place writes,
 * or a store caller joining other copies) take the old way: the copies streamed into a new file.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvalidInput } from '../errors/index.js';
import type { AssembledBlob, PartRef, UploadHandle } from './blob-store.js';
import type { DigestChains } from './local-chain.js';
import { writeAllAt } from './local-inplace.js';
import { isInPlace, type Layout, type LocalParts, missingParts, regionOf } from './local-parts.js';
import { Meter } from './meter.js';
import { syncPath } from '../util/fs.js';

const WRITE_BUFFER = 4 * 1024 * 1024;
const READ_BUFFER = 1024 * 1024;
/** An object up to this size is hashed whole from its bytes after joining (~10 ms at 16 MiB). */
const VERIFY_HASH_MAX = 16 * 1024 * 1024;

/** Copies checked at once (each a readlink, or a stat for a copy kept apart). */
const CHECKS = 16;

/** Runs `fn` over `items`, `limit` at a time. */
async function eachOf<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Whether a completion would use the digest chain: several parts, more than is re-hashed whole. */
export const chainsDigest = (layout: Layout): boolean => layout.size > VERIFY_HASH_MAX && layout.partSize < layout.size;

export interface AssembleDeps {
  parts: LocalParts;
  chains: DigestChains;
  /** A fresh name in .tmp for this writer. */
  tempPath(): string;
  /** rename() into place, then fsync the folder. */
  promote(tmp: string, target: string): Promise<void>;
}

/**
 * The object's size if these copies tile the start of the data file (parts 1…N, each but the
 * last filling its region, the last within its own), else null. Short of the upload's size
 * (a tus upload whose length came late: its file was made at the reservation) only when no
 * copy claims a region past them, since the file is then cut to the object's size.
 */
async function tiling(d: AssembleDeps, upload: UploadHandle, layout: Layout, parts: PartRef[]): Promise<number | null> {
  if (layout.size === 0 || parts.length === 0) return null;
  let total = 0;
  for (const [i, p] of parts.entries()) {
    const region = regionOf(layout, p.partNumber).length;
    if (p.partNumber !== i + 1 || p.ref === '' || p.size === 0 || p.size > region || (i < parts.length - 1 && p.size !== region)) return null;
    total += p.size;
  }
  if (total === layout.size) return total;
  const names = await fs.readdir(d.parts.folder(upload)).catch(() => [] as string[]);
  const beyond = names.some((name) => name.startsWith('claim_') && Number(name.slice(6, 12)) > parts.length);
  return beyond ? null : total;
}

/** Hashes [start, end) of an open file into `hash`. */
async function hashRange(fh: FileHandle, start: number, end: number, hash: Hash): Promise<Hash> {
  const buf = Buffer.allocUnsafeSlow(Math.min(READ_BUFFER, Math.max(1, end - start)));
  for (let pos = start; pos < end; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
    if (bytesRead === 0) throw new Error('the data file is shorter than its parts');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash;
}

/** Copies a file kept apart into [offset, offset + size) of the data file. */
async function place(fh: FileHandle, file: string, offset: number, size: number): Promise<void> {
  let pos = offset;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_BUFFER, end: size - 1 })) {
    await writeAllAt(fh, [chunk as Buffer], pos);
    pos += (chunk as Buffer).length;
  }
  if (pos !== offset + size) throw new Error('a part kept apart is shorter than recorded');
}

/** Copies the in-place copy `ref` out of its region (up to the file's end) into its own file, durably. */
async function moveOut(d: AssembleDeps, upload: UploadHandle, fh: FileHandle, ref: string, partNumber: number, region: { offset: number; length: number }): Promise<void> {
  const size = Math.max(0, Math.min(region.length, (await fh.stat()).size - region.offset));
  const tmp = d.tempPath();
  const out = await fs.open(tmp, 'wx');
  try {
    const buf = Buffer.allocUnsafeSlow(Math.min(READ_BUFFER, Math.max(1, size)));
    for (let done = 0; done < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), region.offset + done);
      if (bytesRead === 0) break;
      await writeAllAt(out, [buf.subarray(0, bytesRead)], done);
      done += bytesRead;
    }
    await out.sync();
    await out.close();
    await fs.rename(tmp, d.parts.moved(upload, partNumber, ref));
  } catch (err) {
    await out.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Opens the data file for joining, at `size`: made if no part was written in place, copied first if a key already holds it. */
async function openForJoin(d: AssembleDeps, upload: UploadHandle, size: number): Promise<FileHandle> {
  const data = d.parts.data(upload);
  await fs.mkdir(d.parts.folder(upload), { recursive: true });
  let fh = await fs.open(data, constants.O_RDWR | constants.O_CREAT, 0o644);
  if ((await fh.stat()).nlink > 1) {
    await fh.close();
    const tmp = d.tempPath();
    try {
      await fs.copyFile(data, tmp);
      await syncPath(tmp);
      await fs.rename(tmp, data);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    fh = await fs.open(data, constants.O_RDWR);
  }
  if ((await fh.stat()).size !== size) await fh.truncate(size); // made durable by the fdatasync before the link
  return fh;
}

/** Joins copies that tile the data file without copying them (see above); null when they do not tile it. */
export async function joinInPlace(d: AssembleDeps, upload: UploadHandle, layout: Layout, parts: PartRef[], target: string, expect?: { sha256?: string }): Promise<AssembledBlob | null> {
  const size = await tiling(d, upload, layout, parts);
  if (size === null) return null;
  const apart: { part: PartRef; file: string }[] = [];
  const missing: number[] = [];
  // One readlink per part, CHECKS at a time: 128 of them one by one took 0.2 s on a busy machine.
  await eachOf(parts, CHECKS, async (p) => {
    const src = await d.parts.source(upload, p);
    if (!src) missing.push(p.partNumber);
    else if (src.file !== d.parts.data(upload) && (await d.parts.claimant(upload, p.partNumber)) !== p.ref) apart.push({ part: p, file: src.file });
  });
  if (missing.length > 0) throw missingParts(missing.sort((a, b) => a - b));
  const resized = (await fs.stat(d.parts.data(upload)).catch(() => null))?.size !== size;
  const fh = await openForJoin(d, upload, size);
  let sha256: string;
  try {
    for (const { part, file } of apart) {
      const region = regionOf(layout, part.partNumber);
      // An in-place copy still holding the region keeps its bytes, moved apart first: copies
      // stay joinable until discarded (distinctPartCopies). Rare: the service discards a
      // replaced copy before any completion.
      const holder = await d.parts.claimant(upload, part.partNumber);
      if (holder !== null && isInPlace(holder)) await moveOut(d, upload, fh, holder, part.partNumber, region);
      await place(fh, file, region.offset, part.size);
      await d.parts.setClaim(upload, part.partNumber, part.ref); // the region now holds this copy
    }
    if (apart.length > 0 || resized) await fh.datasync();
    sha256 = await digestOf(d, upload, { partSize: layout.partSize, size }, parts, fh);
    if (expect?.sha256 && expect.sha256 !== sha256) throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
    // The object's age starts now, not when the parts arrived: the orphan sweep never removes
    // a young object, and this one has no record until the commit.
    const now = new Date();
    await fh.utimes(now, now);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const tmp = d.tempPath();
  await fs.link(d.parts.data(upload), tmp);
  try {
    await d.promote(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  return { size, sha256 };
}

/** The chain's prefix, and the rest read back from the data file (every copy is in its region now). */
async function digestOf(d: AssembleDeps, upload: UploadHandle, layout: Layout, parts: PartRef[], fh: FileHandle): Promise<string> {
  // Small: the digest of the very bytes the key will hold (the inode that is linked), so a
  // record never claims bytes it does not hold (F-09). Large and one part: the part's digest.
  if (layout.size <= VERIFY_HASH_MAX) return (await hashRange(fh, 0, layout.size, createHash('sha256'))).digest('hex');
  if (parts.length === 1) return parts[0]!.sha256;
  return d.chains.digest(upload.uploadId, { parts, file: d.parts.data(upload), size: layout.size, partSize: layout.partSize });
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: READ_BUFFER })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The old way, for copies that do not tile a data file: one part kept apart is linked to the
 * key as it is; several are streamed, in order, into a new file renamed into place.
 */
export async function joinByCopy(d: AssembleDeps, upload: UploadHandle, parts: PartRef[], target: string): Promise<AssembledBlob> {
  if (parts.length === 1 && !isInPlace(parts[0]!.ref)) return linkOnlyPart(d, upload, parts[0]!, target);
  const missing: number[] = [];
  await eachOf(parts, CHECKS, async (p) => void (!(await d.parts.source(upload, p)) && missing.push(p.partNumber)));
  if (missing.length > 0) throw missingParts(missing.sort((a, b) => a - b));
  const tmp = d.tempPath();
  const meter = new Meter(Number.MAX_SAFE_INTEGER, { md5: false });
  try {
    const out = createWriteStream(tmp, { highWaterMark: WRITE_BUFFER, flags: 'wx' });
    await once(out, 'ready'); // open before anything can fail: the removal below then always finds it
    await pipeline(d.parts.concat(upload, parts), meter, out);
    await syncPath(tmp);
    await d.promote(tmp, target);
    const { size, sha256 } = meter.result();
    return { size, sha256 };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** One part kept apart is already the whole file: a hard link gives it its final name. */
async function linkOnlyPart(d: AssembleDeps, upload: UploadHandle, part: PartRef, target: string): Promise<AssembledBlob> {
  const only = d.parts.file(upload, part.partNumber, part.ref);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const now = new Date();
  await fs.utimes(only, now, now);
  await syncPath(only);
  await fs.link(only, target);
  await syncPath(path.dirname(target));
  const st = await fs.stat(target);
  const sha256 = st.size <= VERIFY_HASH_MAX ? await hashFile(target) : part.sha256;
  return { size: st.size, sha256 };
}
