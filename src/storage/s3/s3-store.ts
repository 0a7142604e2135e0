/**
 * The BlobStore on S3 (STORAGE_BACKEND=s3), for AWS S3 and S3-compatible servers (MinIO, R2,
 * Swift's s3api). Bytes never touch the local disk:
 *   beginUpload   CreateMultipartUpload at `.uploads/{uploadId}` (the key is not known yet)
 *   writePart     UploadPart, the body streamed with its declared length (exact-length.ts);
 *                 a re-sent part replaces the earlier copy (distinctPartCopies: false)
 *   assemble      CompleteMultipartUpload there, then a server-side copy to the key
 *                 (assemble.ts)
 *   abortUpload   AbortMultipartUpload and the completed object (staging.ts); idempotent
 *   writeObject   a multipart upload streamed part by part at the key (write-object.ts)
 *   read          GetObject with Range; stat HeadObject; delete DeleteObject
 *   health        HeadBucket (reachable = writable; an object store has no capacity figures)
 * Layout in the bucket: names.ts. Failures: errors.ts (503 / 502, never a driver error).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  UploadPartCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BlobNotFound, InvalidInput, UploadNotOpen } from '../../errors/index.js';
import type {
  AssembledBlob,
  BlobCapabilities,
  BlobStat,
  BlobStore,
  DownloadLinkOptions,
  OrphanScan,
  PartRef,
  StorageHealth,
  UploadArea,
  UploadHandle,
  WriteOptions,
  WrittenBlob,
  WrittenPart,
} from '../blob-store.js';
import { Meter } from '../meter.js';
import { assembleParts, DEFAULT_COPY_LIMITS, type CopyLimits } from './assemble.js';
import { DEFAULT_TIMEOUTS, makeS3Client, type S3Settings, type S3Timeouts } from './client.js';
import { isMissingObject, s3Call, s3ErrorName, toDomainError } from './errors.js';
import { ExactLength } from './exact-length.js';
import { removeOrphanObjects, removeStaleWrites, uploadAreas } from './listing.js';
import { ObjectNames } from './names.js';
import { PartChains } from './part-chain.js';
import { removeStaging } from './staging.js';
import { writeObjectStreamed } from './write-object.js';

const MiB = 1024 * 1024;
/** Parts of the one-request upload: big enough to be fast, small enough that two fit in memory. */
const OBJECT_PART_BYTES = 8 * MiB;
const HEALTH_TIMEOUT_MS = 3_000;
/** Presigned download URLs (S3_DOWNLOAD_REDIRECT) live at most this long. */
export const MAX_DOWNLOAD_URL_SECONDS = 60;

export interface S3StoreOptions {
  timeouts?: S3Timeouts;
  copy?: CopyLimits;
  /** Part size of the one-request upload (grows so that the largest body fits 10,000 parts). */
  objectPartBytes?: number;
  /** S3_DOWNLOAD_REDIRECT: downloadUrl() presigns a GET instead of answering null. */
  downloadRedirect?: boolean;
}

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

export class S3BlobStore implements BlobStore {
  /** The API's part rules (S3's, with the disk store's 512 MiB cap): clients see one contract. */
  readonly capabilities: BlobCapabilities = { minPartSize: 5 * MiB, maxPartSize: 512 * MiB, maxParts: 10_000, wholeObjectSha256: false, localPath: false, distinctPartCopies: false };
  readonly client: S3Client;
  readonly bucket: string;
  private readonly names: ObjectNames;
  private readonly chains = new PartChains();
  private readonly copy: CopyLimits;
  private readonly objectPartBytes: number;
  private readonly redirect: boolean;

  constructor(settings: S3Settings, opts: S3StoreOptions = {}) {
    this.client = makeS3Client(settings, opts.timeouts ?? DEFAULT_TIMEOUTS);
    this.bucket = settings.bucket;
    this.names = new ObjectNames(settings.prefix);
    this.copy = opts.copy ?? DEFAULT_COPY_LIMITS;
    this.objectPartBytes = opts.objectPartBytes ?? OBJECT_PART_BYTES;
    this.redirect = opts.downloadRedirect ?? false;
  }

  private get ctx() {
    return { client: this.client, bucket: this.bucket, names: this.names, copy: this.copy };
  }

  /** Start-up: creates the bucket when asked, then checks it answers (errors are the caller's to word). */
  async open(opts: { createBucket: boolean }): Promise<void> {
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
    const fork = this.chains.fork(upload.uploadId, partNumber);
    const meter = new Meter(opts.maxBytes, { tooLarge: opts.tooLarge, md5: opts.md5 });
    const exact = new ExactLength(opts.maxBytes, fork?.hash ?? null);
    const abort = new AbortController();
    // Whichever fails first is the failure: the body (then the request is aborted), or S3.
    let failure: unknown = null;
    const flowing = pipeline(body, meter, exact).then(
      () => undefined,
      (err: unknown) => {
        failure ??= err;
        abort.abort();
      },
    );
    try {
      const out = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: name, UploadId: upload.ref, PartNumber: partNumber, Body: exact, ContentLength: opts.maxBytes }),
        { abortSignal: abort.signal },
      );
      await flowing;
      const written = meter.result();
      const ref = unquote(out.ETag);
      this.chains.record(upload.uploadId, partNumber, { ref, sha256: written.sha256 }, fork);
      return { ...written, ref };
    } catch (err) {
      failure ??= s3ErrorName(err) === 'NoSuchUpload' ? new UploadNotOpen() : toDomainError(err);
      exact.destroy(); // S3 gave up first: stop reading the body
      await flowing;
      throw failure;
    }
  }

  async discardPart(upload: UploadHandle, _part: { partNumber: number; ref: string }): Promise<void> {
    this.names.staging(upload.uploadId); // one copy per part number: nothing else to drop
  }

  async assemble(upload: UploadHandle, parts: PartRef[], key: string): Promise<AssembledBlob> {
    const target = this.names.object(key);
    this.names.staging(upload.uploadId);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const size = await assembleParts(this.ctx, upload, sorted, target);
    // One part is the whole object, and S3 holds the very copy recorded (its ETag matched).
    const sha256 = sorted.length === 1 ? sorted[0]!.sha256 : this.chains.digest(upload.uploadId, sorted);
    return { size, sha256 };
  }

  async abortUpload(upload: UploadHandle): Promise<void> {
    const name = this.names.staging(upload.uploadId);
    if (upload.ref) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: name, UploadId: upload.ref })).catch((err: unknown) => {
        // Gone already (aborted, or completed: Swift then answers NoSuchKey).
        if (!['NoSuchUpload', 'NoSuchKey'].includes(s3ErrorName(err))) throw toDomainError(err);
      });
    }
    await removeStaging(this.ctx, upload.uploadId);
    this.chains.forget(upload.uploadId);
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

  /** GetObject of the key: null for a range that starts past the end (any range of an empty object). */
  private async getObject(key: string, range?: { start: number; end: number }): Promise<GetObjectCommandOutput | null> {
    const name = this.names.object(key);
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: name, Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
    } catch (err) {
      if (isMissingObject(err)) throw new BlobNotFound(key);
      if (s3ErrorName(err) === 'InvalidRange') return null;
      throw toDomainError(err);
    }
  }

  /**
   * The socket's own flow control paces the body: a reader that stalls holds the kernel's
   * buffers and one chunk, so ReadOptions.pacer has nothing to size here.
   */
  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    if (range && range.end < range.start) {
      if ((await this.stat(key)) === null) throw new BlobNotFound(key);
      return Readable.from([]);
    }
    const out = await this.getObject(key, range);
    return out ? (out.Body as Readable) : Readable.from([]);
  }

  async readSmall(key: string, range: { start: number; end: number }): Promise<Buffer> {
    const out = await this.getObject(key, range);
    if (!out) return Buffer.alloc(0);
    const bytes = await s3Call(() => out.Body!.transformToByteArray());
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async stat(key: string): Promise<BlobStat | null> {
    const name = this.names.object(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: name }));
      return { size: head.ContentLength ?? 0, mtime: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw toDomainError(err);
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.names.object(key);
    await s3Call(() => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: name })));
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
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.names.object(key),
      ResponseContentType: opts.contentType,
      ResponseContentDisposition: opts.contentDisposition,
      ResponseCacheControl: opts.cacheControl,
    });
    return getSignedUrl(this.client, command, { expiresIn: Math.min(MAX_DOWNLOAD_URL_SECONDS, opts.expiresInSeconds ?? MAX_DOWNLOAD_URL_SECONDS) });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
