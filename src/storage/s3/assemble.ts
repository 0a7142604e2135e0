/**
 * Completing a chunked upload on S3. The multipart upload lives at `.uploads/{uploadId}`
 * because the final key is only known at completion; assembling is then
 *   1. CompleteMultipartUpload there with the recorded part copies (their ETags), in order,
 *      and a small record of which copies those were (staging.ts);
 *   2. a server-side copy to the key (CopyObject up to 5 GiB, UploadPartCopy beyond), which
 *      shows the object at the key whole or not at all.
 * The completed object stays at `.uploads/…` until abortUpload, so an interrupted completion
 * runs again (step 1 then finds its work done) and the next attempt, with a new key, copies
 * again. A recorded ETag S3 no longer holds (a re-sent copy replaced it) fails with
 * upload_incomplete naming the parts to send again, never another copy's bytes under the key.
 *
 * Why a copy, when an object pointing at `.uploads/…` would make completion O(1): Swift's s3api
 * (the CI server) still accepts an UploadPart for an upload it has completed, and rewrites the
 * segment the completed object is made of (a later GET answers 409 BrokenMPU). A part re-sent
 * while its upload completes would then break a committed file; the copy is immune to it.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { InvalidInput } from '../../errors/index.js';
import type { PartRef } from '../blob-store.js';
import { isMissingObject, s3Call, s3ErrorName, toDomainError } from './errors.js';
import { forEachPart } from './listing.js';
import { copySource } from './names.js';
import { completedParts, recordCompletedParts, type StagingContext } from './staging.js';

const GiB = 1024 * 1024 * 1024;

export interface CopyLimits {
  /** Up to this size one CopyObject copies the object (S3's limit: 5 GiB). */
  singleCopyMaxBytes: number;
  /** Beyond it, parts of this size are copied with UploadPartCopy, `parallel` at a time. */
  copyPartBytes: number;
  parallel: number;
}

export const DEFAULT_COPY_LIMITS: CopyLimits = { singleCopyMaxBytes: 5 * GiB, copyPartBytes: 512 * 1024 * 1024, parallel: 4 };

export interface AssembleContext extends StagingContext {
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

/** The ETag of every part the open multipart upload holds, or null once it is gone. */
async function heldParts(c: AssembleContext, name: string, uploadId: string): Promise<Map<number, string> | null> {
  const held = new Map<number, string>();
  const open = await forEachPart(c, name, uploadId, (p) => held.set(p.PartNumber!, unquote(p.ETag)));
  return open ? held : null;
}

/** What S3 holds of each part now: ListParts while it can (Swift: even after completion), else the record. */
async function nowHeld(c: AssembleContext, uploadId: string, s3UploadId: string): Promise<Map<number, string>> {
  return (await heldParts(c, c.names.staging(uploadId), s3UploadId)) ?? (await completedParts(c, uploadId)) ?? new Map<number, string>();
}

/** Step 1: the staging object holds exactly these copies, in order; returns its size, or throws upload_incomplete. */
async function completeStaging(c: AssembleContext, uploadId: string, s3UploadId: string, parts: PartRef[]): Promise<number> {
  const name = c.names.staging(uploadId);
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
      case 'InvalidPart':
        throw incomplete(differing(parts, await nowHeld(c, uploadId, s3UploadId)), REPLACED);
      case 'EntityTooSmall':
        throw new InvalidInput('part_size_mismatch', 'Every part but the last must be at least 5 MiB');
      case 'NoSuchUpload':
      case 'NoSuchKey':
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
  const etag = multipartEtag(parts.map((p) => p.ref));
  const sameEtag = etag !== null && unquote(head.ETag) === etag;
  if (!done || (etag !== null && !sameEtag)) {
    // Completed before, maybe of other copies: only the copies it holds can be joined again.
    const made = await completedParts(c, uploadId);
    const matches = made ? made.size === parts.length && parts.every((p) => made.get(p.partNumber) === p.ref) : sameEtag;
    if (!matches) throw incomplete(differing(parts, made ?? new Map()), 'The upload was completed from other copies of these parts');
  }
  if (done) await recordCompletedParts(c, uploadId, parts);
  return head.ContentLength ?? 0;
}

const REPLACED = 'S3 no longer holds these parts as recorded (a later copy replaced them): send them again';

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
  try {
    await copyWhole(c, c.names.staging(upload.uploadId), target, size);
  } catch (err) {
    // Swift: a part re-sent after the completion rewrote a segment of the completed object.
    if (s3ErrorName((err as { cause?: unknown }).cause) === 'BrokenMPU') throw incomplete(differing(parts, await nowHeld(c, upload.uploadId, upload.ref)), REPLACED);
    throw err;
  }
  return size;
}
