/**
 * A chunked upload's place in the bucket:
 *   .uploads/{uploadId}         its multipart upload, then the object completed from it
 *   .uploads/{uploadId}.parts   which part copies that object holds (for an attempt that
 *                               comes after the completion: S3 can no longer list its parts)
 * Both stay until abortUpload, so an interrupted completion can run again.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isMissingObject, s3Call, toDomainError } from './errors.js';
import type { ObjectNames } from './names.js';

export interface StagingContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
}

/** Part number → the ETag of the copy the completed object holds, or null when never completed. */
export async function completedParts(c: StagingContext, uploadId: string): Promise<Map<number, string> | null> {
  try {
    const out = await c.client.send(new GetObjectCommand({ Bucket: c.bucket, Key: c.names.partsRecord(uploadId) }));
    return new Map(JSON.parse(await out.Body!.transformToString()) as [number, string][]);
  } catch (err) {
    if (isMissingObject(err)) return null;
    throw toDomainError(err);
  }
}

export async function recordCompletedParts(c: StagingContext, uploadId: string, parts: { partNumber: number; ref: string }[]): Promise<void> {
  const Body = JSON.stringify(parts.map((p) => [p.partNumber, p.ref]));
  await s3Call(() => c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: c.names.partsRecord(uploadId), Body, ContentType: 'application/json' })));
}

/** Removes the completed object and its record (each idempotent). */
export async function removeStaging(c: StagingContext, uploadId: string): Promise<void> {
  for (const Key of [c.names.staging(uploadId), c.names.partsRecord(uploadId)]) {
    await s3Call(() => c.client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key })));
  }
}
