/**
 * A chunked upload's place in the bucket and its life after completion:
 *   .uploads/{uploadId}             the multipart upload, then the object completed from it
 *   .uploads/{uploadId}.parts       which part copies that object holds, and the alias (key)
 *                                   the last completion gave it
 *   .uploads/{uploadId}.committed   the file's record was committed: the object now holds
 *                                   that key's bytes (its alias names it)
 * The service calls abortUpload after committing a completion, and also to drop an upload
 * that never completed; the store tells the two apart by whether the alias of the last
 * completion still names the object. So the object is removed by abortUpload when no file
 * came of it, and by the alias's delete once the file goes; never while a file needs it.
 * A move (move.ts) writes the marker and deletes an alias too, with no conditional write to
 * order the two (none on Swift): the service never runs one inside a close of the same upload
 * (src/files/close-lease.ts).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Aliases } from './aliases.js';
import { isMissingObject, s3Call, toDomainError } from './errors.js';
import type { ObjectNames } from './names.js';

export interface StagingContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
  aliases: Aliases;
}

export interface CompletionRecord {
  /** Part number → the ETag of the copy the completed object holds. */
  parts: Map<number, string>;
  /** The alias the last completion made (an object name, relative to the prefix), if any. */
  alias: string | null;
}

async function getText(c: StagingContext, name: string): Promise<string | null> {
  try {
    const out = await c.client.send(new GetObjectCommand({ Bucket: c.bucket, Key: name }));
    return await out.Body!.transformToString();
  } catch (err) {
    if (isMissingObject(err)) return null;
    throw toDomainError(err);
  }
}

async function putText(c: StagingContext, name: string, text: string): Promise<void> {
  await s3Call(() => c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: name, Body: text, ContentType: 'application/json' })));
}

const relative = (c: StagingContext, name: string): string => name.slice(c.names.prefix.length);

export async function readRecord(c: StagingContext, uploadId: string): Promise<CompletionRecord | null> {
  const text = await getText(c, c.names.partsRecord(uploadId));
  if (text === null) return null;
  const parsed = JSON.parse(text) as { parts: [number, string][]; alias?: string };
  return { parts: new Map(parsed.parts), alias: parsed.alias ?? null };
}

export async function writeRecord(c: StagingContext, uploadId: string, parts: { partNumber: number; ref: string }[], aliasName: string): Promise<void> {
  await putText(c, c.names.partsRecord(uploadId), JSON.stringify({ parts: parts.map((p) => [p.partNumber, p.ref]), alias: relative(c, aliasName) }));
}

/** The alias (relative name) the upload's object was committed to, or null. */
async function committedAlias(c: StagingContext, uploadId: string): Promise<string | null> {
  return getText(c, c.names.committedMarker(uploadId));
}

/** Does the alias `rel` (a name relative to the prefix) still name this upload's completed object? */
async function aliasNamesUpload(c: StagingContext, rel: string, uploadId: string): Promise<boolean> {
  const name = c.names.prefix + rel;
  c.aliases.forget(name); // asked of S3 itself: another instance may have deleted it
  const r = await c.aliases.resolve(name);
  return r !== null && r.alias && r.name === c.names.staging(uploadId);
}

export async function removeStaging(c: StagingContext, uploadId: string): Promise<void> {
  for (const Key of [c.names.staging(uploadId), c.names.partsRecord(uploadId), c.names.committedMarker(uploadId)]) {
    await s3Call(() => c.client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key })));
  }
}

/**
 * Were the upload's parts joined (CompleteMultipartUpload ran)? Then no part may be written
 * any more: AWS refuses one (NoSuchUpload), Swift would rewrite the joined object's segment.
 * The answer holds while the upload is open: only a completion, which waits for every part
 * write registered before it (the fence), joins the parts.
 */
export async function isJoined(c: StagingContext, uploadId: string): Promise<boolean> {
  try {
    await c.client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: c.names.staging(uploadId) }));
    return true;
  } catch (err) {
    if (isMissingObject(err)) return false;
    throw toDomainError(err);
  }
}

/** Was the upload's object committed to a file (and so closed to further completions)? */
export async function isCommitted(c: StagingContext, uploadId: string): Promise<boolean> {
  return (await committedAlias(c, uploadId)) !== null;
}

/**
 * After the multipart upload itself is aborted: keeps the completed object if a file's alias
 * names it (marking it committed), else removes it and its records.
 */
export async function commitOrRemove(c: StagingContext, uploadId: string): Promise<'kept' | 'removed'> {
  const committed = await committedAlias(c, uploadId);
  const alias = committed ?? (await readRecord(c, uploadId))?.alias ?? null;
  if (alias !== null && (await aliasNamesUpload(c, alias, uploadId))) {
    if (committed !== null) return 'kept';
    await putText(c, c.names.committedMarker(uploadId), alias);
    // Asked again after marking: a delete of the alias that ran meanwhile saw no mark and left
    // the object, so it is removed here; one that runs later sees the mark and removes it.
    if (await aliasNamesUpload(c, alias, uploadId)) return 'kept';
  }
  await removeStaging(c, uploadId);
  return 'removed';
}

/** The alias `aliasName` of upload `uploadId` was deleted: its object goes too once committed to it. */
export async function releaseAliased(c: StagingContext, aliasName: string, uploadId: string): Promise<void> {
  if ((await committedAlias(c, uploadId)) === relative(c, aliasName)) await removeStaging(c, uploadId);
}
