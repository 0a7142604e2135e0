/**
 * Where the S3 store keeps things in its bucket, all under S3_PREFIX:
 *   storage/{user}/{folder…}/{id}_{name}   finished objects, under their key
 *   .long/{xx}/{sha256(key)}              objects whose key is too long for an object name
 *   .uploads/{uploadId}                   a chunked upload: its multipart upload, then the
 *                                         object CompleteMultipartUpload made of it, which
 *                                         the key's alias names (aliases.ts, staging.ts)
 *   .uploads/{uploadId}.parts             which part copies that object holds; its alias
 *   .uploads/{uploadId}.committed         the alias whose file was committed
 * Keys are checked segment by segment (safe-path.ts) before they name anything, as on disk.
 */
import { createHash } from 'node:crypto';
import { InvalidInput } from '../../errors/index.js';
import { keySegments } from '../safe-path.js';

/**
 * Longest object name written under a key. S3 allows 1024 bytes; Swift's s3api keeps a
 * multipart upload's parts at `{name}/{uploadId}/{n}`, 55 bytes more, under the same limit
 * (the one-request upload is a multipart upload at the object's name). Valid keys reach
 * ~8 KiB, so the longer ones live under a digest, as on disk.
 */
export const MAX_OBJECT_NAME_BYTES = 900;

const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;
const DIGEST = /^[0-9a-f]{64}$/;
const PARTS_SUFFIX = '.parts';
const COMMITTED_SUFFIX = '.committed';

export function checkUploadId(uploadId: string): void {
  if (!UPLOAD_ID.test(uploadId)) throw new InvalidInput('invalid_upload_id', 'Invalid uploadId');
}

export const keyDigest = (key: string): string => createHash('sha256').update(key).digest('hex');

export class ObjectNames {
  readonly storagePrefix: string;
  readonly longPrefix: string;
  readonly uploadsPrefix: string;
  /** No key shorter than this (bytes) is ever kept under `.long/`. */
  readonly minLongKeyBytes: number;

  constructor(readonly prefix: string) {
    this.storagePrefix = `${prefix}storage/`;
    this.longPrefix = `${prefix}.long/`;
    this.uploadsPrefix = `${prefix}.uploads/`;
    this.minLongKeyBytes = MAX_OBJECT_NAME_BYTES - Buffer.byteLength(prefix) + 1;
  }

  /** The object name of a key; invalid_key for a key that could name anything else. */
  object(key: string): string {
    keySegments(key);
    if (!key.startsWith('storage/')) throw new InvalidInput('invalid_key', 'Invalid key');
    const direct = this.prefix + key;
    if (Buffer.byteLength(direct) <= MAX_OBJECT_NAME_BYTES) return direct;
    const digest = keyDigest(key);
    return `${this.longPrefix}${digest.slice(0, 2)}/${digest}`;
  }

  /** The key an object under `storage/` is named by (objects under `.long/` have none: null). */
  keyOf(objectName: string): string | null {
    return objectName.startsWith(this.storagePrefix) ? objectName.slice(this.prefix.length) : null;
  }

  /** The digest an object under `.long/` is named by, or null. */
  digestOf(objectName: string): string | null {
    if (!objectName.startsWith(this.longPrefix)) return null;
    const last = objectName.slice(objectName.lastIndexOf('/') + 1);
    return DIGEST.test(last) ? last : null;
  }

  /** Where an upload's multipart upload lives, and the object it is completed into. */
  staging(uploadId: string): string {
    checkUploadId(uploadId);
    return this.uploadsPrefix + uploadId;
  }

  /** The record of which part copies the completed staging object holds. */
  partsRecord(uploadId: string): string {
    return this.staging(uploadId) + PARTS_SUFFIX;
  }

  /** The mark that the completed object holds a committed file's bytes. */
  committedMarker(uploadId: string): string {
    return this.staging(uploadId) + COMMITTED_SUFFIX;
  }

  /** What a name under `.uploads/` is, and whose: null for anything else. */
  stagingPart(objectName: string): { uploadId: string; kind: 'object' | 'parts' | 'committed' } | null {
    if (!objectName.startsWith(this.uploadsPrefix)) return null;
    const rest = objectName.slice(this.uploadsPrefix.length);
    for (const [suffix, kind] of [[PARTS_SUFFIX, 'parts'], [COMMITTED_SUFFIX, 'committed'], ['', 'object']] as const) {
      const id = rest.endsWith(suffix) ? rest.slice(0, rest.length - suffix.length) : null;
      if (id !== null && UPLOAD_ID.test(id)) return { uploadId: id, kind };
    }
    return null;
  }

  /** The upload whose completed object (not a record of it) `objectName` is, or null. */
  uploadIdOf(objectName: string): string | null {
    const p = this.stagingPart(objectName);
    return p?.kind === 'object' ? p.uploadId : null;
  }
}

