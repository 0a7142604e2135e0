/**
 * The BlobStore on S3 (STORAGE_BACKEND=s3), for AWS S3 and S3-compatible servers (MinIO, R2,
 * Swift's s3api). Bytes never stay on the local disk (a part that arrives before the one ahead
 * of it is spooled there until the hash chain reads it: part-chain.ts, part-spool.ts):
 *   beginUpload   CreateMultipartUpload at `.uploads/{uploadId}` (the key is not known yet)
 *   writePart     UploadPart, the body streamed with its declared length (exact-length.ts);
 *                 a re-sent part replaces the earlier copy (distinctPartCopies: false); held
 *                 by the service's part-write fence (fencedPartWrites), refused once the
 *                 parts were joined
 *   assemble      CompleteMultipartUpload there, then an alias at the key (assemble.ts,
 *                 aliases.ts): no copy of the bytes
 *   abortUpload   AbortMultipartUpload, and the completed object unless a file holds it
 *                 (staging.ts); idempotent
 *   writeObject   a multipart upload streamed part by part at the key (write-object.ts)
 *   read          GetObject of ranges ≤ 64 MiB in turn (of the aliased object for a chunked
 *                 upload's file), copied into the reader's buffers (reads.ts, object-reader.ts);
 *                 stat HeadObject; delete DeleteObject (and an alias's object, staging.ts)
 *   health        HeadBucket (reachable = writable; an object store has no capacity figures)
 * Layout in the bucket: names.ts. Failures: errors.ts (503 / 502, never a driver error).
 */
import os from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BlobNotFound, InvalidInput, UploadNotOpen } from '../../errors/index.js';
import type {
  AssembledBlob,
  BlobCapabilities,
  BlobStat,
  BlobStore,
  BlobReader,
  DownloadLinkOptions,
  OrphanScan,
  PartRef,
  ReadOptions,
  StorageHealth,
  UploadArea,
  UploadHandle,
  WriteOptions,
  WrittenBlob,
  WrittenPart,
} from '../blob-store.js';
import { FileSource } from '../file-source.js';
import { Meter } from '../meter.js';
import { Aliases } from './aliases.js';
import { assembleParts, holdsCopy } from './assemble.js';
import { DEFAULT_TIMEOUTS, makeS3Client, type S3Settings, type S3Timeouts } from './client.js';
import { s3Call, s3ErrorName, s3Status, toDomainError } from './errors.js';
import { ExactLength } from './exact-length.js';
import { removeOrphanObjects, removeStaleWrites, uploadAreas } from './listing.js';
import { moveObject } from './move.js';
import { ObjectNames } from './names.js';
import type { ByteSpan } from './object-reader.js';
import { PartChains } from './part-chain.js';
import { SpoolDir, SpoolPace } from './part-spool.js';
import { openObjectReader, readSmallRange } from './reads.js';
import { reopenJoined } from './reopen.js';
import { commitOrRemove, isCommitted, isJoined, releaseAliased } from './staging.js';
import { writeObjectStreamed } from './write-object.js';

const MiB = 1024 * 1024;
/** Parts of the one-request upload: big enough to be fast, small enough that two fit in memory. */
const OBJECT_PART_BYTES = 8 * MiB;
/** Reads are GETs of ranges this long at most (object-reader.ts). */
const READ_SEGMENT_BYTES = 64 * MiB;
const HEALTH_TIMEOUT_MS = 3_000;
/** Presigned download URLs (S3_DOWNLOAD_REDIRECT) live at most this long. */
export const MAX_DOWNLOAD_URL_SECONDS = 60;

export interface S3StoreOptions {
  timeouts?: S3Timeouts;
  /** Part size of the one-request upload (grows so that the largest body fits 10,000 parts). */
  objectPartBytes?: number;
  /** S3_DOWNLOAD_REDIRECT: downloadUrl() presigns a GET instead of answering null. */
  downloadRedirect?: boolean;
  /** Bytes of parallel parts held on disk for the whole-file hash chain (default HOLD_BUDGET, 1 GiB). */
  holdBudgetBytes?: number;
  /** Longest range one GET asks for: longer reads are several GETs in turn (default 64 MiB, object-reader.ts). */
  readSegmentBytes?: number;
  /** Where the held parts' scratch directory is made (UPLOAD_ROOT/.tmp from open.ts; default the system's temporary folder). */
  spoolDir?: string;
}

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

export class S3BlobStore implements BlobStore {
  /** The API's part rules (S3's, with the disk store's 512 MiB cap): clients see one contract. */
  readonly capabilities: BlobCapabilities = { minPartSize: 5 * MiB, maxPartSize: 512 * MiB, maxParts: 10_000, wholeObjectSha256: false, localPath: false, distinctPartCopies: false, fencedPartWrites: true };
  readonly client: S3Client;
  readonly bucket: string;
  private readonly names: ObjectNames;
  readonly chains: PartChains;
  private readonly aliases: Aliases;
  private readonly objectPartBytes: number;
  private readonly redirect: boolean;
  private readonly readSegmentBytes: number;

  constructor(settings: S3Settings, opts: S3StoreOptions = {}) {
    this.client = makeS3Client(settings, opts.timeouts ?? DEFAULT_TIMEOUTS);
    this.bucket = settings.bucket;
    this.names = new ObjectNames(settings.prefix);
    this.chains = new PartChains({ spool: new SpoolDir(opts.spoolDir ?? os.tmpdir()), budget: opts.holdBudgetBytes });
    this.aliases = new Aliases({ client: this.client, bucket: this.bucket, names: this.names });
    this.objectPartBytes = opts.objectPartBytes ?? OBJECT_PART_BYTES;
    this.redirect = opts.downloadRedirect ?? false;
    this.readSegmentBytes = opts.readSegmentBytes ?? READ_SEGMENT_BYTES;
  }

  private get ctx() {
    return { client: this.client, bucket: this.bucket, names: this.names, aliases: this.aliases, removeKeyObject: (name: string) => this.removeKeyObject(name) };
  }

  /** Start-up: creates the bucket when asked, then checks it answers (errors are the caller's to word). */
  async open(opts: { createBucket: boolean }): Promise<void> {
    await this.chains.removeStaleSpools(); // a crashed process's held parts
    if (opts.createBucket) {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket })).catch((err: unknown) => {
        if (s3ErrorName(err) !== 'BucketAlreadyOwnedByYou') throw err;
      });
    }
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async beginUpload(uploadId: string, info: { size: number; partSize: number; mime: string }): Promise<UploadHandle> {
    const name = this.names.staging(uploadId);
    const out = await s3Call(() => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: name, ContentType: info.mime })));
    return { uploadId, ref: out.UploadId! };
  }

  async writePart(upload: UploadHandle, partNumber: number, body: Readable, opts: WriteOptions): Promise<WrittenPart> {
    const name = this.names.staging(upload.uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > this.capabilities.maxParts) {
      throw new InvalidInput('invalid_part_number', 'Invalid part number');
    }
    if (!upload.ref) throw new UploadNotOpen();
    const { fence } = opts;
    // Asked while the body streams, answered at the last byte: parts joined → no more parts.
    const joined = isJoined(this.ctx, upload.uploadId);
    joined.catch(() => undefined);
    let lastByteOut = false;
    const gate = async (): Promise<boolean> => {
      if ((await joined) || (fence && !(await fence.beforeLastByte())) || fence?.signal.aborted) return false;
      lastByteOut = true;
      return true;
    };
    // The whole-file hash chain: extended in flight, or the bytes spooled until part n−1 joins it.
    const fork = this.chains.fork(upload.uploadId, partNumber);
    const held = fork ? null : this.chains.hold(upload.uploadId, partNumber);
    const feed = fork ? (c: Buffer) => void fork.hash.update(c) : null;
    const meter = new Meter(opts.maxBytes, { tooLarge: opts.tooLarge, md5: opts.md5 });
    // A held part's body waits while its spool lags (memory bounded, the part kept).
    const pace = held ? new SpoolPace((c) => this.chains.add(held, c), () => this.chains.backlog(held), () => held.file.end()) : null;
    const exact = new ExactLength(opts.maxBytes, feed, gate);
    const abort = new AbortController();
    // Whichever fails first is the failure: the body (then the request is aborted), or S3.
    let failure: unknown = null;
    const flowing = (pace ? pipeline(body, meter, pace, exact) : pipeline(body, meter, exact)).then(
      () => undefined,
      (err: unknown) => {
        failure ??= err;
        abort.abort();
      },
    );
    // The fence withdrew this write: stop it while S3 cannot have stored it (last byte held
    // back); past that, cutting the request would not undo it, so its answer is awaited.
    const fenced = (): void => {
      if (!lastByteOut) exact.destroy(new UploadNotOpen()); // fails the body: the request is aborted as for a failing client
    };
    fence?.signal.addEventListener('abort', fenced, { once: true });
    try {
      const out = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: name, UploadId: upload.ref, PartNumber: partNumber, Body: exact, ContentLength: opts.maxBytes }),
        { abortSignal: abort.signal },
      );
      await flowing;
      const written = meter.result();
      const ref = unquote(out.ETag);
      this.chains.record(upload.uploadId, partNumber, { ref, sha256: written.sha256 }, fork, held);
      return { ...written, ref };
    } catch (err) {
      // No answer to a request whose last byte went out: S3 may still store the copy.
      if (lastByteOut && s3Status(err) === undefined) fence?.inDoubt();
      if (held) this.chains.drop(held);
      failure ??= s3ErrorName(err) === 'NoSuchUpload' ? new UploadNotOpen() : toDomainError(err);
      exact.destroy(); // S3 gave up first: stop reading the body
      await flowing;
      throw failure;
    } finally {
      fence?.signal.removeEventListener('abort', fenced);
    }
  }

  async discardPart(upload: UploadHandle, _part: { partNumber: number; ref: string }): Promise<void> {
    this.names.staging(upload.uploadId); // one copy per part number: nothing else to drop
  }

  async assemble(upload: UploadHandle, parts: PartRef[], key: string, expect?: { sha256?: string }): Promise<AssembledBlob> {
    const target = this.names.object(key);
    this.names.staging(upload.uploadId);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    // One part is the whole object, and S3 holds the very copy recorded (its ETag matched).
    const sha256 = sorted.length === 1 ? sorted[0]!.sha256 : await this.chains.digest(upload.uploadId, sorted);
    // Known before the join, so a mismatch joins nothing and the upload stays open to parts.
    if (expect?.sha256 && sha256 !== null && sha256 !== expect.sha256) throw new InvalidInput('checksum_mismatch', 'sha256 does not match the uploaded bytes');
    const size = await assembleParts(this.ctx, upload, sorted, target);
    return { size, sha256 };
  }

  /** After a failed completion that joined the parts: a fresh multipart upload of copies of them (reopen.ts). */
  async reopenJoined(upload: UploadHandle, parts: PartRef[]): Promise<{ ref: string; parts: { partNumber: number; ref: string }[] } | null> {
    if (!(await isJoined(this.ctx, upload.uploadId)) || (await isCommitted(this.ctx, upload.uploadId))) return null;
    return reopenJoined(this.ctx, upload.uploadId, [...parts].sort((a, b) => a.partNumber - b.partNumber));
  }

  /** Whether S3 still holds this copy of a part (read only; assemble would join the parts). */
  async holdsCopy(upload: UploadHandle, part: { partNumber: number; ref: string }): Promise<boolean> {
    return holdsCopy(this.ctx, upload, part);
  }

  async abortUpload(upload: UploadHandle): Promise<void> {
    const name = this.names.staging(upload.uploadId);
    if (upload.ref) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: name, UploadId: upload.ref })).catch((err: unknown) => {
        // Gone already (aborted, or completed: Swift then answers NoSuchKey).
        if (!['NoSuchUpload', 'NoSuchKey'].includes(s3ErrorName(err))) throw toDomainError(err);
      });
    }
    await commitOrRemove(this.ctx, upload.uploadId);
    await this.chains.forget(upload.uploadId);
  }

  uploadAreas(before: number): AsyncIterable<UploadArea[]> {
    return uploadAreas(this.ctx, before);
  }

  /** The store's own leftovers are multipart uploads at object names whose writer stopped. */
  async removeTemporary(before: number): Promise<number> {
    return removeStaleWrites(this.ctx, before);
  }

  async writeObject(key: string, body: Readable, opts: WriteOptions): Promise<WrittenBlob> {
    const name = this.names.object(key);
    const partBytes = Math.min(this.capabilities.maxPartSize, Math.max(this.objectPartBytes, Math.ceil(opts.maxBytes / this.capabilities.maxParts)));
    return writeObjectStreamed({ client: this.client, bucket: this.bucket, name }, body, opts, partBytes);
  }

  /**
   * Ranged GETs of at most readSegmentBytes, in turn, copied into the caller's buffers
   * (reads.ts, object-reader.ts); a missing object fails here, before any header is written.
   */
  openReader(key: string, range?: ByteSpan): Promise<BlobReader> {
    return openObjectReader(this.ctx, key, range, this.readSegmentBytes);
  }

  /** Through openReader, paced and into recycled buffers as on disk (storage/file-source.ts). */
  async read(key: string, range?: ByteSpan, opts: ReadOptions = {}): Promise<Readable> {
    if (range && range.end < range.start) {
      if ((await this.stat(key)) === null) throw new BlobNotFound(key);
      return Readable.from([]);
    }
    const reader = await this.openReader(key, range);
    return new FileSource(reader, { start: range?.start ?? 0, end: range?.end ?? Number.MAX_SAFE_INTEGER, pacer: opts.pacer, buffers: opts.buffers });
  }

  readSmall(key: string, range: ByteSpan): Promise<Buffer> {
    return readSmallRange(this.ctx, key, range);
  }

  async stat(key: string): Promise<BlobStat | null> {
    const r = await this.aliases.resolve(this.names.object(key));
    return r ? { size: r.size, mtime: r.mtime } : null;
  }

  async delete(key: string): Promise<void> {
    await this.removeKeyObject(this.names.object(key));
  }

  /** A new alias (or a server-side copy of an object written whole), commit, old one gone: move.ts. */
  async move(fromKey: string, toKey: string, commit: () => Promise<boolean>): Promise<boolean> {
    return moveObject(this.ctx, fromKey, toKey, commit);
  }

  /** Deletes a key's object; an alias's completed upload goes too once a committed file held it. */
  private async removeKeyObject(name: string): Promise<void> {
    const r = await this.aliases.resolve(name);
    await s3Call(() => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: name })));
    this.aliases.forget(name);
    const uploadId = r?.alias ? this.names.uploadIdOf(r.name) : null;
    if (uploadId) await releaseAliased(this.ctx, name, uploadId);
  }

  async health(): Promise<StorageHealth> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      return { writable: true };
    } catch {
      return { writable: false };
    }
  }

  async removeOrphanObjects(scan: OrphanScan): Promise<number> {
    return removeOrphanObjects(this.ctx, scan);
  }

  accelPathOf(_key: string): null {
    return null; // no local file a web server could send
  }

  /** S3_DOWNLOAD_REDIRECT: a presigned GET of the key, valid ≤ 60 s, with the answer's headers set. */
  async downloadUrl(key: string, opts: DownloadLinkOptions): Promise<string | null> {
    if (!this.redirect) return null;
    const where = await this.aliases.resolve(this.names.object(key));
    if (where === null) return null; // no bytes: streaming answers the 404
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: where.name,
      ResponseContentType: opts.contentType,
      ResponseContentDisposition: opts.contentDisposition,
      ResponseCacheControl: opts.cacheControl,
    });
    return getSignedUrl(this.client, command, { expiresIn: Math.min(MAX_DOWNLOAD_URL_SECONDS, opts.expiresInSeconds ?? MAX_DOWNLOAD_URL_SECONDS) });
  }

  async close(): Promise<void> {
    try {
      await this.chains.close(); // held parts' spool files and their directory
    } finally {
      this.client.destroy();
    }
  }
}
