/**
 * The embedded BlobStore: files under UPLOAD_ROOT, laid out as in the seed:
 *   storage/{user_id}/{folder}/{id}_{filename}      finished objects (keys)
 *   .parts/{uploadId}/data, claim_…, part_…         upload areas (local-parts.ts)
 *   .tmp/                                           files being written
 *   .long/{xx}/{sha256(key)}                        objects whose key the file system cannot hold
 * Every object is written in .tmp first and renamed into place only when complete, so a reader
 * never sees a half-written file. Parts are written in place into their upload's data file
 * (local-inplace.ts), which a completion links to its key (local-assemble.ts): no copy. Buffers are large (4 MiB writes, reads up to 1 MiB): on these
 * machines that is the difference between ~0.4 and ~1.3 GB/s. Downloads start with 64 KiB reads
 * and grow only while the client keeps up (file-source.ts), so a stalled reader pins little.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {
  AssembledBlob,
  BlobCapabilities,
  BlobReader,
  BlobStat,
  BlobStore,
  OrphanScan,
  PartRef,
  ReadOptions,
  StorageHealth,
  UploadArea,
  UploadHandle,
  WriteOptions,
  WrittenBlob,
  WrittenPart,
} from './blob-store.js';
import { FileSource } from './file-source.js';
import { openLocalReader } from './local-reader.js';
import { readRange } from './local-small-read.js';
import { isMissing, reading, writing } from './local-errno.js';
import { deadLocalWriter, fileStat, fitsFileSystem, NAME_MAX, PATH_MAX, TEMP_OWNER } from './local-names.js';
import { removeOrphanObjects, removeTempFiles } from './local-orphans.js';
import { chainsDigest, joinByCopy, joinInPlace } from './local-assemble.js';
import { DigestChains } from './local-chain.js';
import { writeInPlace } from './local-inplace.js';
import { isInPlace, layoutOf, layoutRef, LocalParts, newAttempt, regionOf } from './local-parts.js';
import { HashingFileSink, ownsChunks } from './local-write.js';
import { resolveInside } from './safe-path.js';
import { syncPath } from '../util/fs.js';
import { HashWorker } from '../util/hash-worker.js';
import { BlobNotFound, UploadNotOpen } from '../errors/index.js';

const MiB = 1024 * 1024;

export class LocalDiskBlobStore implements BlobStore {
  /** The part rules are the API's (S3's), not the disk's: clients see one contract. */
  readonly capabilities: BlobCapabilities = { minPartSize: 5 * MiB, maxPartSize: 512 * MiB, maxParts: 10_000, wholeObjectSha256: true, localPath: true, distinctPartCopies: true, fencedPartWrites: true };
  private readonly tmpDir: string;
  private readonly parts: LocalParts;
  /** The whole-file digest of each upload, advanced as its parts are acknowledged (local-chain.ts). */
  readonly chains = new DigestChains();
  /** SHA-256 / MD5 of the bytes being written, off the event loop (util/hash-worker.ts). */
  private readonly hashes = new HashWorker();
  private readonly longDir: string;

  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.tmpDir = path.join(this.root, '.tmp');
    this.parts = new LocalParts(path.join(this.root, '.parts'));
    this.longDir = path.join(this.root, '.long');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    await fs.mkdir(this.parts.dir, { recursive: true });
    await fs.mkdir(path.join(this.root, 'storage'), { recursive: true });
  }

  /**
   * Absolute path of a key (for X-Accel-Redirect and tests), proven to stay under the root:
   * `<root>/<key>` as in the seed's layout. Valid keys can be longer than the file system
   * allows (a 255-byte filename becomes a 288-byte `{id}_{filename}` entry; a 32-deep folder
   * of long names passes PATH_MAX), so those few live at `.long/<sha256(key)>` instead.
   */
  pathOf(key: string): string {
    const direct = resolveInside(this.root, key);
    if (fitsFileSystem(direct, this.root)) return direct;
    const digest = createHash('sha256').update(key).digest('hex');
    return path.join(this.longDir, digest.slice(0, 2), digest);
  }

  /** The key's file relative to the root: `.long/xx/<sha256>` for the long ones (F-11a). */
  accelPathOf(key: string): string {
    return path.relative(this.root, this.pathOf(key)).split(path.sep).join('/');
  }

  /** `<host>.<pid>.<random>`: who writes it, so a restart removes only dead writers' files at once. */
  private tempPath(): string {
    return path.join(this.tmpDir, `${TEMP_OWNER}.${randomBytes(8).toString('hex')}`);
  }

  /**
   * Streams `body` into a fresh temp file (hashed on the worker as it is written); removes the
   * temp file on any failure.
   */
  private async streamToTemp(body: Readable, opts: WriteOptions, fsync: boolean): Promise<{ tmp: string; written: WrittenBlob }> {
    const tmp = this.tempPath();
    let fh: FileHandle | null = null;
    let sink: HashingFileSink | null = null;
    try {
      fh = await fs.open(tmp, 'wx');
      sink = new HashingFileSink(fh, this.hashes.stream({ md5: opts.md5 !== false }), { start: 0, limit: Number.MAX_SAFE_INTEGER, maxBytes: opts.maxBytes, tooLarge: opts.tooLarge, own: ownsChunks(body) });
      const signal = opts.fence?.signal;
      await pipeline(body, sink, signal ? { signal } : {});
      const [written] = await Promise.all([sink.result(), fsync ? sink.sync() : undefined]);
      await fh.close();
      fh = null;
      return { tmp, written };
    } catch (err) {
      sink?.discard();
      await fh?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      throw opts.fence?.signal.aborted ? new UploadNotOpen() : err;
    }
  }

  async beginUpload(uploadId: string, info: { size: number; partSize: number; mime: string }): Promise<UploadHandle> {
    this.parts.folder({ uploadId, ref: '' }); // refuses an id that could escape .parts
    // The ref says where each part's region is (local-parts.ts); the folder appears with the first part.
    return { uploadId, ref: layoutRef({ partSize: Math.max(1, info.partSize), size: info.size }) };
  }

  /**
   * In place when the part's region of the data file is free (local-inplace.ts), else kept
   * apart in its own file. Either way acknowledged only once durable, and fed to the digest chain.
   */
  async writePart(upload: UploadHandle, partNumber: number, body: Readable, opts: WriteOptions): Promise<WrittenPart> {
    const layout = layoutOf(upload);
    return writing(async () => {
      const inPlace = layout ? await writeInPlace(this.parts, this.hashes, upload, layout, partNumber, body, opts, this.tempPath()) : null;
      const written = inPlace ?? (await this.writeApart(upload, partNumber, body, opts));
      if (layout && chainsDigest(layout)) {
        const where = inPlace ? { file: this.parts.data(upload), start: regionOf(layout, partNumber).offset } : { file: this.parts.file(upload, partNumber, written.ref), start: 0 };
        this.chains.acknowledged(upload.uploadId, { n: partNumber, ref: written.ref, sha256: written.sha256, size: written.size, ...where });
      }
      return written;
    });
  }

  private async writeApart(upload: UploadHandle, partNumber: number, body: Readable, opts: WriteOptions): Promise<WrittenPart> {
    const ref = newAttempt();
    const target = this.parts.file(upload, partNumber, ref);
    const { tmp, written } = await this.streamToTemp(body, opts, true);
    try {
      if (opts.fence && !(await opts.fence.beforeLastByte())) throw new UploadNotOpen();
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(tmp, target); // a fresh name: no earlier copy is touched
      await syncPath(path.dirname(target));
      return { ...written, ref };
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async discardPart(upload: UploadHandle, part: { partNumber: number; ref: string }): Promise<void> {
    const file = isInPlace(part.ref) ? this.parts.moved(upload, part.partNumber, part.ref) : this.parts.file(upload, part.partNumber, part.ref);
    await fs.rm(file, { force: true });
    await this.parts.release(upload, part.partNumber, part.ref);
  }

  async abortUpload(upload: UploadHandle): Promise<void> {
    this.chains.forget(upload.uploadId);
    await this.parts.remove(upload);
  }

  uploadAreas(before: number): AsyncIterable<UploadArea[]> {
    return this.parts.areas(before);
  }

  async removeTemporary(before: number): Promise<number> {
    return removeTempFiles(this.tmpDir, before, deadLocalWriter);
  }

  /** Without a copy when the parts tile the upload's data file (local-assemble.ts); the old way otherwise. */
  async assemble(upload: UploadHandle, parts: PartRef[], key: string, expect?: { sha256?: string }): Promise<AssembledBlob> {
    const target = this.pathOf(key);
    this.parts.folder(upload);
    const layout = layoutOf(upload);
    const deps = { parts: this.parts, chains: this.chains, tempPath: () => this.tempPath(), promote: (tmp: string, to: string) => this.promote(tmp, to) };
    return writing(async () => (layout && (await joinInPlace(deps, upload, layout, parts, target, expect))) || joinByCopy(deps, upload, parts, target));
  }

  async writeObject(key: string, body: Readable, opts: WriteOptions): Promise<WrittenBlob> {
    const target = this.pathOf(key);
    return writing(async () => {
      const { tmp, written } = await this.streamToTemp(body, opts, true);
      try {
        await this.promote(tmp, target);
        return written;
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
    });
  }

  /** rename() into place, then fsync the directory so the new name survives a power cut. */
  private async promote(tmp: string, target: string): Promise<void> {
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
    await syncPath(path.dirname(target));
  }

  async read(key: string, range?: { start: number; end: number }, opts: ReadOptions = {}): Promise<Readable> {
    const reader = await openLocalReader(this.pathOf(key), key); // fails here (BlobNotFound) rather than mid-stream
    // Reads grow from 64 KiB to 1 MiB only while the reader keeps up (file-source.ts): big
    // chunks for speed, small ones for a reader that stalls.
    return new FileSource(reader, { start: range?.start ?? 0, end: range?.end ?? Number.MAX_SAFE_INTEGER, pacer: opts.pacer, buffers: opts.buffers });
  }

  /** Positional reads into the caller's buffers (downloads recycle theirs: serve/pooled-body.ts). */
  openReader(key: string): Promise<BlobReader> {
    return openLocalReader(this.pathOf(key), key);
  }

  async readSmall(key: string, range: { start: number; end: number }): Promise<Buffer> {
    return reading(key, () => readRange(this.pathOf(key), range.start, range.end - range.start + 1));
  }

  async stat(key: string): Promise<BlobStat | null> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? { size: st.size, mtime: st.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  /**
   * A hard link at the new key (made in .tmp and renamed into place, so a stale file there is
   * replaced whole), the caller's commit, then the old name unlinked: never a copy, and at
   * every step the bytes are under the key the record names. Both paths are safe-path checked.
   */
  async move(fromKey: string, toKey: string, commit: () => Promise<boolean>): Promise<boolean> {
    const [from, to] = [this.pathOf(fromKey), this.pathOf(toKey)];
    return writing(async () => {
      const [src, dst] = await Promise.all([fileStat(from), fileStat(to)]);
      if (src && !(dst && dst.ino === src.ino && dst.dev === src.dev)) {
        const tmp = this.tempPath();
        await fs.link(from, tmp);
        await this.promote(tmp, to).catch(async (err: unknown) => {
          await fs.rm(tmp, { force: true });
          throw err;
        });
      } else if (!src && !dst) {
        throw new BlobNotFound(fromKey);
      }
      if (!(await commit())) {
        await fs.rm(to, { force: true }); // no record at either key (deleted meanwhile)
        return false;
      }
      await fs.rm(from, { force: true });
      return true;
    });
  }

  async health(): Promise<StorageHealth> {
    // Every folder the store writes to is probed: an unwritable storage/ with a writable .tmp
    // would otherwise report healthy while every upload fails.
    let writable = true;
    const name = `.probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    for (const dir of [this.tmpDir, this.parts.dir, path.join(this.root, 'storage')]) {
      const probe = path.join(dir, name);
      try {
        await fs.writeFile(probe, 'ok');
        await fs.rm(probe, { force: true });
      } catch {
        writable = false;
        break;
      }
    }
    try {
      const s = await fs.statfs(this.root);
      return { writable, capacity: { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize } };
    } catch {
      return { writable };
    }
  }

  async removeOrphanObjects(scan: OrphanScan): Promise<number> {
    // A key lives under .long only when a segment passes NAME_MAX or the path passes PATH_MAX.
    const minLongKeyBytes = Math.max(0, Math.min(NAME_MAX + 1, PATH_MAX - Buffer.byteLength(this.root)));
    const layout = { root: this.root, storageDir: path.join(this.root, 'storage'), longDir: this.longDir, minLongKeyBytes };
    return removeOrphanObjects(layout, scan);
  }

  async close(): Promise<void> {
    // Every read and write opens and closes its own file; the digest chains' worker ends here.
    await Promise.all([this.chains.close(), this.hashes.close()]);
  }
}
