/**
 * The S3 store's clean-up, a page at a time (S3 lists 1000 names per call):
 *  - upload areas: multipart uploads and completed objects under `.uploads/` that no
 *    committed file holds, for the service to abort those no record names;
 *  - its own half-written leftovers: multipart uploads at object names (a one-request upload
 *    or a large copy that died), once no part has arrived for a while;
 *  - whole objects (and aliases) no record names (F-13), under `storage/` and `.long/`.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type Part,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import type { OrphanScan, UploadArea } from '../blob-store.js';
import { s3Call, s3ErrorName, toDomainError } from './errors.js';
import { keyDigest, type ObjectNames } from './names.js';

export interface ListingContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
  /** Removes a key's object, and the completed upload it aliases once no file needs it. */
  removeKeyObject(name: string): Promise<void>;
}

/** Digests of `.long/` objects matched per pass over the recorded long keys (as on disk). */
const LONG_PAGE = 10_000;

const time = (d: Date | undefined): number => d?.getTime() ?? 0;

async function* multipartUploads(c: ListingContext, prefix: string): AsyncGenerator<{ name: string; uploadId: string; initiated: number }[]> {
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await s3Call(() => c.client.send(new ListMultipartUploadsCommand({ Bucket: c.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker })));
    yield (page.Uploads ?? []).map((u) => ({ name: u.Key!, uploadId: u.UploadId!, initiated: time(u.Initiated) }));
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
}

async function* objects(c: ListingContext, prefix: string): AsyncGenerator<_Object[]> {
  let token: string | undefined;
  do {
    const page = await s3Call(() => c.client.send(new ListObjectsV2Command({ Bucket: c.bucket, Prefix: prefix, ContinuationToken: token })));
    yield page.Contents ?? [];
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

export async function* uploadAreas(c: ListingContext, before: number): AsyncGenerator<UploadArea[]> {
  for await (const page of multipartUploads(c, c.names.uploadsPrefix)) {
    const areas: UploadArea[] = [];
    for (const u of page) {
      const part = c.names.stagingPart(u.name);
      const uploadId = part?.kind === 'object' ? part.uploadId : null;
      if (uploadId && u.initiated < before) areas.push({ handle: { uploadId, ref: u.uploadId }, touchedAt: u.initiated });
    }
    if (areas.length > 0) yield areas;
  }
  // Completed objects and their records, of uploads never aborted. Those holding a committed
  // file's bytes are no upload area (a name's records are listed next to it, mostly on the
  // same page; one that is not is still kept by abortUpload, which checks the alias itself).
  for await (const page of objects(c, c.names.uploadsPrefix)) {
    const found = new Map<string, { touchedAt: number; committed: boolean }>();
    for (const o of page) {
      const part = c.names.stagingPart(o.Key!);
      if (!part) continue;
      const seen = found.get(part.uploadId) ?? { touchedAt: 0, committed: false };
      seen.touchedAt = Math.max(seen.touchedAt, time(o.LastModified));
      seen.committed ||= part.kind === 'committed';
      found.set(part.uploadId, seen);
    }
    const areas = [...found].filter(([, f]) => !f.committed && f.touchedAt < before).map(([uploadId, f]) => ({ handle: { uploadId, ref: '' }, touchedAt: f.touchedAt }));
    if (areas.length > 0) yield areas;
  }
}

/**
 * Calls `fn` for every part a multipart upload holds (ListParts, every page); false when the
 * upload is gone (completed, aborted, or its name no longer exists).
 */
export async function forEachPart(c: Pick<ListingContext, 'client' | 'bucket'>, name: string, uploadId: string, fn: (part: Part) => void): Promise<boolean> {
  let marker: string | undefined;
  for (;;) {
    let page;
    try {
      page = await c.client.send(new ListPartsCommand({ Bucket: c.bucket, Key: name, UploadId: uploadId, PartNumberMarker: marker }));
    } catch (err) {
      if (['NoSuchUpload', 'NoSuchKey'].includes(s3ErrorName(err))) return false;
      throw toDomainError(err);
    }
    for (const p of page.Parts ?? []) fn(p);
    if (!page.IsTruncated) return true;
    marker = page.NextPartNumberMarker;
  }
}

/** When a part last arrived (or the upload began): a live writer keeps this fresh; null once it finished or was aborted. */
async function lastTouched(c: ListingContext, name: string, uploadId: string, initiated: number): Promise<number | null> {
  let latest = initiated;
  const open = await forEachPart(c, name, uploadId, (p) => {
    latest = Math.max(latest, time(p.LastModified));
  });
  return open ? latest : null;
}

/** Aborts multipart uploads at object names whose writer stopped before `before` (unix ms). */
export async function removeStaleWrites(c: ListingContext, before: number): Promise<number> {
  let removed = 0;
  for (const prefix of [c.names.storagePrefix, c.names.longPrefix]) {
    for await (const page of multipartUploads(c, prefix)) {
      for (const u of page) {
        if (u.initiated >= before) continue;
        const touched = await lastTouched(c, u.name, u.uploadId, u.initiated);
        if (touched === null || touched >= before) continue;
        await s3Call(() => c.client.send(new AbortMultipartUploadCommand({ Bucket: c.bucket, Key: u.name, UploadId: u.uploadId })));
        removed++;
      }
    }
  }
  return removed;
}

/** Removes objects found by a listing: empty ones may be aliases, which go one by one. */
async function deleteAll(c: ListingContext, found: _Object[]): Promise<void> {
  for (const o of found.filter((x) => x.Size === 0)) await c.removeKeyObject(o.Key!);
  const names = found.filter((x) => x.Size !== 0).map((x) => x.Key!);
  if (names.length === 0) return;
  const out = await s3Call(() => c.client.send(new DeleteObjectsCommand({ Bucket: c.bucket, Delete: { Objects: names.map((Key) => ({ Key })), Quiet: true } })));
  const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
  if (failed.length > 0) throw toDomainError(Object.assign(new Error(`DeleteObjects: ${failed[0]!.Code}`), { name: failed[0]!.Code }));
}

export async function removeOrphanObjects(c: ListingContext, scan: OrphanScan): Promise<number> {
  let removed = 0;
  for await (const page of objects(c, c.names.storagePrefix)) {
    const keyed = page.map((o) => ({ o, key: c.names.keyOf(o.Key!) })).filter((x): x is { o: _Object; key: string } => x.key !== null);
    const named = await scan.named(keyed.map((x) => x.key));
    const victims = keyed.filter((x) => !named.has(x.key) && time(x.o.LastModified) < scan.writtenBefore).map((x) => x.o);
    await deleteAll(c, victims);
    removed += victims.length;
  }
  // Objects under a digest: claimed only by a recorded key with that digest.
  let batch = new Map<string, _Object>();
  const settle = async (): Promise<void> => {
    for await (const keys of scan.longKeys(c.names.minLongKeyBytes)) {
      for (const key of keys) batch.delete(keyDigest(key));
      if (batch.size === 0) break;
    }
    const victims = [...batch.values()].filter((o) => time(o.LastModified) < scan.writtenBefore);
    await deleteAll(c, victims);
    removed += victims.length;
    batch = new Map();
  };
  for await (const page of objects(c, c.names.longPrefix)) {
    for (const o of page) {
      const digest = c.names.digestOf(o.Key!);
      if (digest) batch.set(digest, o);
    }
    if (batch.size >= LONG_PAGE) await settle();
  }
  if (batch.size > 0) await settle();
  return removed;
}
