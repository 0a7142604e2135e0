/**
 * Completing a chunked upload on S3. The multipart upload lives at `.uploads/{uploadId}`
 * because the final key is only known at completion; assembling is then
 *   1. CompleteMultipartUpload there with the recorded part copies (their ETags), in order,
 *      and a small record of which copies those were (`.uploads/{uploadId}.parts`);
 *   2. a server-side copy to the key (CopyObject up to 5 GiB, UploadPartCopy beyond), which
 *      shows the object at the key whole or not at all.
 * The completed object stays at `.uploads/…` until abortUpload, so an interrupted completion
 * runs again (step 1 then finds its work done) and the next attempt, with a new key, copies
 * again. A recorded ETag S3 no longer holds (a re-sent copy replaced it) fails with
 * upload_incomplete naming the parts to send again, never another copy's bytes under the key.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { InvalidInput } from '../../errors/index.js';
import type { PartRef } from '../blob-store.js';
import { isMissingObject, s3Call, s3ErrorName, toDomainError } from './errors.js';
import { copySource, type ObjectNames } from './names.js';

const GiB = 1024 * 1024 * 1024;

export interface CopyLimits {
  /** Up to this size one CopyObject copies the object (S3's limit: 5 GiB). */
  singleCopyMaxBytes: number;
  /** Beyond it, parts of this size are copied with UploadPartCopy, `parallel` at a time. */
  copyPartBytes: number;
  parallel: number;
}

export const DEFAULT_COPY_LIMITS: CopyLimits = { singleCopyMaxBytes: 5 * GiB, copyPartBytes: 512 * 1024 * 1024, parallel: 4 };

export interface AssembleContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
  copy: CopyLimits;
}

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

const incomplete = (missing: number[], why: string): InvalidInput =>
  new InvalidInput('upload_incomplete', `${why}: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`, { missing_parts: missing });

/** S3's ETag of an object completed from these part ETags (MD5s), or null if they are not MD5s (SSE-KMS). */
export function multipartEtag(refs: string[]): string | null {
  if (!refs.every((r) => /^[0-9a-f]{32}$/.test(r))) return null;
  const md5 = createHash('md5');
  for (const r of refs) md5.update(Buffer.from(r, 'hex'));
  return `${md5.digest('hex')}-${refs.length}`;
}

/** The parts whose recorded copy differs from what S3 holds (`held`: part number → ETag). */
function differing(parts: PartRef[], held: Map<number, string>): number[] {
  const missing = parts.filter((p) => held.get(p.partNumber) !== p.ref).map((p) => p.partNumber);
  return missing.length > 0 ? missing : parts.map((p) => p.partNumber);
}

/** The ETag of every part the open multipart upload holds (ListParts, every page), or null once it is gone. */
async function heldParts(c: AssembleContext, name: string, uploadId: string): Promise<Map<number, string> | null> {
  const held = new Map<number, string>();
  let marker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await c.client.send(new ListPartsCommand({ Bucket: c.bucket, Key: name, UploadId: uploadId, PartNumberMarker: marker }));
    } catch (err) {
      if (s3ErrorName(err) === 'NoSuchUpload') return null;
      throw toDomainError(err);
    }
    for (const p of page.Parts ?? []) held.set(p.PartNumber!, unquote(p.ETag));
    if (!page.IsTruncated) return held;
    marker = page.NextPartNumberMarker;
  }
}

/** The part copies the completed staging object was made of, from its record (null if none). */
async function completedParts(c: AssembleContext, uploadId: string): Promise<Map<number, string> | null> {
  try {
    const out = await c.client.send(new GetObjectCommand({ Bucket: c.bucket, Key: c.names.partsRecord(uploadId) }));
    const pairs = JSON.parse(await out.Body!.transformToString()) as [number, string][];
    return new Map(pairs);
  } catch (err) {
    if (isMissingObject(err)) return null;
    throw toDomainError(err);
  }
}

/** Step 1: the staging object holds exactly these copies, in order; throws upload_incomplete if it cannot. */
async function completeStaging(c: AssembleContext, uploadId: string, s3UploadId: string, parts: PartRef[]): Promise<number> {
  const name = c.names.staging(uploadId);
  const etag = multipartEtag(parts.map((p) => p.ref));
  let done = false;
  try {
    await c.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: c.bucket,
        Key: name,
        UploadId: s3UploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.ref}"` })) },
      }),
    );
    done = true;
  } catch (err) {
    switch (s3ErrorName(err)) {
      case 'InvalidPart': {
        const held = (await heldParts(c, name, s3UploadId)) ?? (await completedParts(c, uploadId)) ?? new Map<number, string>();
        throw incomplete(differing(parts, held), 'S3 no longer holds these parts as recorded (a later copy replaced them): send them again');
      }
      case 'EntityTooSmall':
        throw new InvalidInput('part_size_mismatch', 'Every part but the last must be at least 5 MiB');
      case 'NoSuchUpload':
        break; // completed before (an earlier attempt) or aborted: the staging object says which
      default:
        throw toDomainError(err);
    }
  }
  let head;
  try {
    head = await c.client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: name }));
  } catch (err) {
    if (isMissingObject(err)) throw incomplete(parts.map((p) => p.partNumber), 'The upload was aborted: its parts are gone');
    throw toDomainError(err);
  }
  if (!done || (etag !== null && unquote(head.ETag) !== etag)) {
    // Made before, maybe of other copies: only the copies recorded then can be joined again.
    const made = await completedParts(c, uploadId);
    const matches = made ? parts.length === made.size && parts.every((p) => made.get(p.partNumber) === p.ref) : etag !== null && unquote(head.ETag) === etag;
    if (!matches) throw incomplete(differing(parts, made ?? new Map()), 'The upload was completed from other copies of these parts: send them again in a new upload');
  }
  if (done) {
    const record = JSON.stringify(parts.map((p) => [p.partNumber, p.ref]));
    await s3Call(() => c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: c.names.partsRecord(uploadId), Body: record, ContentType: 'application/json' })));
  }
  return head.ContentLength ?? 0;
}

/** Step 2: a server-side copy of `source` to `target`, atomic at the target. */
async function copyWhole(c: AssembleContext, source: string, target: string, size: number): Promise<void> {
  if (size <= c.copy.singleCopyMaxBytes) {
    await s3Call(() => c.client.send(new CopyObjectCommand({ Bucket: c.bucket, Key: target, CopySource: copySource(c.bucket, source) })));
    return;
  }
  // Part sizes within S3's rules: ≤ 10,000 parts, each ≤ 5 GiB.
  const partBytes = Math.max(c.copy.copyPartBytes, Math.ceil(size / 10_000));
  const count = Math.ceil(size / partBytes);
  const created = await s3Call(() => c.client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key: target })));
  const id = created.UploadId!;
  const parts: CompletedPart[] = [];
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const first = i * partBytes;
        const last = Math.min(size, first + partBytes) - 1;
        const out = await s3Call(() =>
          c.client.send(new UploadPartCopyCommand({ Bucket: c.bucket, Key: target, UploadId: id, PartNumber: i + 1, CopySource: copySource(c.bucket, source), CopySourceRange: `bytes=${first}-${last}` })),
        );
        parts[i] = { PartNumber: i + 1, ETag: out.CopyPartResult?.ETag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(c.copy.parallel, count) }, worker));
    await s3Call(() => c.client.send(new CompleteMultipartUploadCommand({ Bucket: c.bucket, Key: target, UploadId: id, MultipartUpload: { Parts: parts } })));
  } catch (err) {
    await c.client.send(new AbortMultipartUploadCommand({ Bucket: c.bucket, Key: target, UploadId: id })).catch(() => undefined);
    throw err;
  }
}

/** Joins the recorded copies (sorted by part number) into `target`; returns the object's size. */
export async function assembleParts(c: AssembleContext, upload: { uploadId: string; ref: string }, parts: PartRef[], target: string): Promise<number> {
  if (parts.length === 0) throw incomplete([1], 'No parts');
  const size = await completeStaging(c, upload.uploadId, upload.ref, parts);
  await copyWhole(c, c.names.staging(upload.uploadId), target, size);
  return size;
}
