/**
 * Making a joined upload open to parts again. Completion joins the parts before it can know
 * the whole file's SHA-256 when the hash chain does not cover them (parts sent to several
 * instances, or past the held-bytes budget): the service then reads the object back, and a
 * digest that differs must leave the upload open to be fixed (only the bad part re-sent).
 * S3 cannot re-open a completed multipart upload, so a fresh one is created at the same name
 * and each part is a server-side copy of its byte range of the joined object (UploadPartCopy
 * with CopySourceRange: no byte passes through this server); then the joined object and its
 * record go, so that part writes are taken again (staging.ts isJoined). The service records
 * the new upload id and part ETags (UploadStore.rebaseAssembly).
 * Cost, on that failure path only: one copy of the object inside S3 (1 GiB on the CI's Swift:
 * ~7–9 s). A completion whose digest matches, or is refused before the join (the chain's
 * digest), never comes here.
 */
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import type { PartRef } from '../blob-store.js';
import { s3Call, toDomainError } from './errors.js';
import type { StagingContext } from './staging.js';

/** Part copies in flight at once (each is a request S3 serves by itself). */
const COPY_CONCURRENCY = 4;

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

/** A fresh multipart upload at the upload's name holding the joined object's parts (sorted by number). */
export async function reopenJoined(c: StagingContext, uploadId: string, parts: PartRef[]): Promise<{ ref: string; parts: { partNumber: number; ref: string }[] }> {
  const name = c.names.staging(uploadId);
  const created = await s3Call(() => c.client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key: name })));
  const ref = created.UploadId!;
  const source = `${c.bucket}/${name.split('/').map(encodeURIComponent).join('/')}`;
  const starts: number[] = [];
  parts.reduce((at, p) => (starts.push(at), at + p.size), 0);
  const copied: { partNumber: number; ref: string }[] = new Array(parts.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < parts.length) {
      const i = next++;
      const p = parts[i]!;
      // An empty part (a 0-byte file) is the whole (empty) object: no range to name.
      const range = p.size > 0 ? `bytes=${starts[i]}-${starts[i]! + p.size - 1}` : undefined;
      const out = await c.client.send(new UploadPartCopyCommand({ Bucket: c.bucket, Key: name, UploadId: ref, PartNumber: p.partNumber, CopySource: source, CopySourceRange: range }));
      copied[i] = { partNumber: p.partNumber, ref: unquote(out.CopyPartResult?.ETag) };
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, parts.length) }, worker));
  } catch (err) {
    await c.client.send(new AbortMultipartUploadCommand({ Bucket: c.bucket, Key: name, UploadId: ref })).catch(() => undefined);
    throw toDomainError(err);
  }
  // The joined object and its record go: the upload is open to parts again.
  for (const Key of [name, c.names.partsRecord(uploadId)]) await s3Call(() => c.client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key })));
  return { ref, parts: copied };
}
