/**
 * BlobStore.move on S3. A chunked upload's file is an alias (aliases.ts): the move is a new
 * alias naming the same completed upload, the caller's commit, the upload's committed marker
 * pointed at the new alias, and the old alias deleted — a few empty objects, no byte copied.
 * The marker must move before the old alias goes: deleting an alias that the marker names
 * would remove the completed upload with it (staging.ts, releaseAliased). An object written
 * whole (writeObject) is copied server-side (CopyObject, atomic, up to 5 GiB: the largest
 * one-request upload), then the original is deleted after the commit.
 *
 * Each step may run again: an alias or copy already at the new name is kept (a key's bytes
 * never change), and a move whose old object is gone only asks commit to confirm. The caller
 * never runs a move inside the close of the file's upload (abortUpload, staging.ts): both
 * write the marker (src/files/close-lease.ts).
 */
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BlobNotFound } from '../../errors/index.js';
import type { Aliases } from './aliases.js';
import { s3Call } from './errors.js';
import type { ObjectNames } from './names.js';

export interface MoveContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
  aliases: Aliases;
  /** Deletes a key's object the store's way (an alias's completed upload too, once committed to it). */
  removeKeyObject(name: string): Promise<void>;
}

/** CopySource is "bucket/key", URL-encoded segment by segment. */
const copySource = (bucket: string, name: string): string => `${bucket}/${name.split('/').map(encodeURIComponent).join('/')}`;

async function deletePlain(c: MoveContext, name: string): Promise<void> {
  await s3Call(() => c.client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: name })));
  c.aliases.forget(name);
}

export async function moveObject(c: MoveContext, fromKey: string, toKey: string, commit: () => Promise<boolean>): Promise<boolean> {
  const [fromName, toName] = [c.names.object(fromKey), c.names.object(toKey)];
  // Asked of S3 itself: another instance may have moved or deleted either one.
  c.aliases.forget(fromName);
  c.aliases.forget(toName);
  const [from, to] = await Promise.all([c.aliases.resolve(fromName), c.aliases.resolve(toName)]);
  if (from === null) {
    if (to === null) throw new BlobNotFound(fromKey);
    // An earlier attempt got as far as removing the old object: only the record is left to confirm.
    if (await commit()) return true;
    await c.removeKeyObject(toName);
    return false;
  }
  const uploadId = from.alias ? c.names.uploadIdOf(from.name) : null;
  if (to === null) {
    if (uploadId !== null) await c.aliases.put(toName, uploadId, from.size);
    else await s3Call(() => c.client.send(new CopyObjectCommand({ Bucket: c.bucket, Key: toName, CopySource: copySource(c.bucket, fromName) })));
  }
  if (!(await commit())) {
    await deletePlain(c, toName); // the marker (if any) still names the old alias
    return false;
  }
  if (uploadId !== null) {
    const marker = c.names.committedMarker(uploadId);
    const Body = toName.slice(c.names.prefix.length);
    await s3Call(() => c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: marker, Body, ContentType: 'application/json' })));
  }
  await deletePlain(c, fromName);
  return true;
}
