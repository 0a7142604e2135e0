/**
 * Completing a chunked upload on S3, with no copy of the bytes:
 *   1. CompleteMultipartUpload at `.uploads/{uploadId}` with the recorded part copies (their
 *      ETags), in order; then the record of which copies those were and of the alias made;
 *   2. the key's alias (aliases.ts): one small PUT, so the object appears at the key whole or
 *      not at all. 1 GiB in 128 parts: ~0.3 s on the CI's Swift, where a server-side copy to
 *      the key took 7–9 s.
 * The completed object stays until abortUpload (staging.ts), so an interrupted completion runs
 * again (step 1 finds its work done) and the next attempt, with a new key, aliases it anew.
 * A recorded ETag S3 no longer holds (a re-sent copy replaced it) fails with upload_incomplete
 * naming the parts to send again, never with another copy's bytes under the key.
 *
 * Why this is safe although Swift's s3api accepts an UploadPart for an upload it has completed
 * (and rewrites the segment the completed object is made of: GET then answers 409 BrokenMPU):
 * the store declares `fencedPartWrites`, so the service registers every part write in the
 * database and a completion waits until none is alive before it comes here; and a part write
 * after the parts were joined is refused by the store itself (staging.ts isJoined).
 */
import { CompleteMultipartUploadCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { InvalidInput } from '../../errors/index.js';
import type { PartRef } from '../blob-store.js';
import { isMissingObject, s3ErrorName, toDomainError } from './errors.js';
import { forEachPart } from './listing.js';
import { isCommitted, isJoined, readRecord, writeRecord, type StagingContext } from './staging.js';

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

/** The parts whose recorded copy differs from what S3 holds (`held`: part number → ETag); all when none differs. */
function differing(parts: PartRef[], held: Map<number, string>): number[] {
  const missing = parts.filter((p) => held.get(p.partNumber) !== p.ref).map((p) => p.partNumber);
  return missing.length > 0 ? missing : parts.map((p) => p.partNumber);
}

/** The ETag of every part the open multipart upload holds, or null once it is gone. */
async function heldParts(c: StagingContext, name: string, s3UploadId: string): Promise<Map<number, string> | null> {
  const held = new Map<number, string>();
  const open = await forEachPart(c, name, s3UploadId, (p) => held.set(p.PartNumber!, unquote(p.ETag)));
  return open ? held : null;
}

/**
 * Whether S3 still holds this copy of a part: among the open multipart upload's parts, or,
 * once they were joined, in the completed object (its record names the copy). Asked without
 * changing anything (a probe for tests and tools: assemble would join the parts for good).
 */
export async function holdsCopy(c: StagingContext, upload: { uploadId: string; ref: string }, part: { partNumber: number; ref: string }): Promise<boolean> {
  const name = c.names.staging(upload.uploadId);
  const held = upload.ref ? await heldParts(c, name, upload.ref) : null;
  if (held) return held.get(part.partNumber) === part.ref;
  if (!(await isJoined(c, upload.uploadId))) return false;
  return (await readRecord(c, upload.uploadId))?.parts.get(part.partNumber) === part.ref;
}

/**
 * Step 1: the completed object at `.uploads/{uploadId}` holds exactly these copies, in order.
 * Returns its size; throws upload_incomplete when it cannot.
 */
async function completeStaging(c: StagingContext, uploadId: string, s3UploadId: string, parts: PartRef[]): Promise<number> {
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
      case 'InvalidPart': {
        const held = (await heldParts(c, name, s3UploadId)) ?? (await readRecord(c, uploadId))?.parts ?? new Map<number, string>();
        throw incomplete(differing(parts, held), 'S3 no longer holds these parts as recorded (a later copy replaced them): send them again');
      }
      case 'EntityTooSmall':
        throw new InvalidInput('part_size_mismatch', 'Every part but the last must be at least 5 MiB');
      case 'NoSuchUpload':
      case 'NoSuchKey':
        break; // completed before (an earlier attempt) or aborted: what is stored says which
      default:
        throw toDomainError(err);
    }
  }
  const etag = multipartEtag(parts.map((p) => p.ref));
  let head;
  try {
    head = await c.client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: name }));
  } catch (err) {
    if (isMissingObject(err)) throw incomplete(parts.map((p) => p.partNumber), 'The upload was aborted: its parts are gone');
    throw toDomainError(err);
  }
  // A file was committed from it and the upload closed (abortUpload): nothing more comes of it.
  // (Swift answers a repeated CompleteMultipartUpload with 200 even then.)
  if (await isCommitted(c, uploadId)) throw incomplete(parts.map((p) => p.partNumber), 'The upload was completed and closed');
  const sameEtag = etag !== null && unquote(head.ETag) === etag;
  if (!done || (etag !== null && !sameEtag)) {
    // Completed before: it can be completed again only from the very copies it holds.
    const made = (await readRecord(c, uploadId))?.parts;
    const matches = made ? made.size === parts.length && parts.every((p) => made.get(p.partNumber) === p.ref) : sameEtag;
    if (!matches) throw incomplete(differing(parts, made ?? new Map()), 'The upload was completed from other copies of these parts');
  }
  return head.ContentLength ?? 0;
}

/** Joins the recorded copies (sorted by part number) and makes `aliasName` (the key's object) show them; returns the size. */
export async function assembleParts(c: StagingContext, upload: { uploadId: string; ref: string }, parts: PartRef[], aliasName: string): Promise<number> {
  if (parts.length === 0) throw incomplete([1], 'No parts');
  const size = await completeStaging(c, upload.uploadId, upload.ref, parts);
  await writeRecord(c, upload.uploadId, parts, aliasName);
  await c.aliases.put(aliasName, upload.uploadId, size);
  return size;
}
