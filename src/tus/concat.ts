/**
 * tus concatenation: a final upload joins finished partial uploads, in the order given, into
 * one ordinary file record. Partial lengths are arbitrary (not multiples of a part size), so
 * their bytes cannot be re-labelled as the parts of one upload; they are copied:
 *  1. each partial leaves 'open' (beginAssembly: no part can land any more) and its parts
 *     are joined into a staging object (BlobStore.assemble: disk — a hard link for one part,
 *     a copy otherwise; S3 — CompleteMultipartUpload and whatever the store's completion does);
 *  2. the staging objects are read in order into the final object (BlobStore.writeObject),
 *     hashing it, and the `sha256` of Upload-Metadata is checked;
 *  3. the partials' records are deleted (their reservations freed) and then the file record
 *     is inserted against the quota: the bytes never count twice, at the price of a gap in
 *     which a crash loses the partials (the client uploads again; nothing leaks: areas and
 *     objects no record names are swept by age);
 *  4. the partials' areas and the staging objects are removed.
 * Cost: every byte is read and written once more than a plain tus upload (twice on disk when
 * a partial has several parts). Until step 3 any failure puts the partials back as they were.
 */
import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { FileRecord, UploadRecord } from '../db/types.js';
import { InvalidInput, TooLarge, UploadNotFound, WrongState } from '../errors/index.js';
import { buildKey, newFileId } from '../files/keys.js';
import { handleOf } from '../files/upload-service.js';
import { readState } from './state.js';
import type { TusDeps } from './tus-service.js';

export interface FinalMeta {
  userId: string;
  filename: string;
  mime: string;
  folder: string;
  sha256?: string;
}

/** A lease long enough for the copy; an instance dying mid-way lets the sweep reopen the partials. */
const STAGING_LEASE_MS = 10 * 60_000;

/** Checks the partials (the caller holds their tus leases) and joins them; returns the file. */
export async function concatenate(d: TusDeps, principal: Principal, partialIds: string[], meta: FinalMeta): Promise<FileRecord> {
  const partials: UploadRecord[] = [];
  for (const id of partialIds) {
    const p = await d.uploads.getOwned(principal, id);
    if (p.mode !== 'tus-partial' || p.userId !== meta.userId) throw new InvalidInput('validation_error', `Upload-Concat: ${id} is not a partial upload of this user`);
    if (p.state !== 'open') throw new WrongState('upload_completed', `Upload-Concat: ${id} was already used`);
    const state = await readState(d.store.uploads, d.blobs, p);
    if (state.offset !== p.size) throw new InvalidInput('upload_incomplete', `Upload-Concat: partial upload ${id} is not finished (${state.offset} of ${p.size} bytes)`);
    partials.push(p);
  }
  if (new Set(partialIds).size !== partialIds.length) throw new InvalidInput('validation_error', 'Upload-Concat: a partial upload is named twice');
  const size = partials.reduce((n, p) => n + p.size, 0);
  if (size > d.maxFileBytes) throw new TooLarge('file_too_large', `The concatenation is larger than the ${d.maxFileBytes}-byte limit`);

  const id = newFileId();
  const key = buildKey({ userId: meta.userId, folder: meta.folder, id, filename: meta.filename });
  const staging = partials.map((p, i) => `storage/${meta.userId}/.tus/${id}.concat${i}`);
  const begun: number[] = [];
  const now = () => d.clock.now();
  const deleted = new Set<number>();
  try {
    for (const [i, p] of partials.entries()) {
      if (!(await d.store.uploads.beginAssembly(p.id, staging[i]!, now(), now() + STAGING_LEASE_MS))) throw new WrongState('complete_in_progress', `Upload-Concat: ${p.id} is in use`);
      begun.push(i);
      await d.blobs.assemble(handleOf(p), await d.store.uploads.listParts(p.id), staging[i]!);
    }
    const stream = Readable.from(
      (async function* () {
        for (const k of staging) for await (const chunk of await d.blobs.read(k)) yield chunk as Buffer;
      })(),
    );
    const written = await d.blobs.writeObject(key, stream, { maxBytes: size, md5: false });
    if (written.size !== size || (meta.sha256 && written.sha256 !== meta.sha256)) {
      await d.blobs.delete(key);
      throw new InvalidInput('checksum_mismatch', 'sha256 does not match the concatenated bytes');
    }
    const file: FileRecord = { id, key, userId: meta.userId, folder: meta.folder, filename: meta.filename, size, mime: meta.mime, sha256: written.sha256, createdAt: new Date(now()).toISOString() };
    // From here the partials are spent: their reservations go first, then the file takes its own.
    for (const [i, p] of partials.entries()) {
      const r = await d.store.uploads.deleteUpload(p.id, { states: ['assembling'] });
      if (r.outcome !== 'deleted') throw new UploadNotFound();
      deleted.add(i);
    }
    try {
      await d.store.files.insertFile(file, d.files.quotaCheck(meta.userId), d.files.events.fileCreated(file));
    } catch (err) {
      await d.blobs.delete(key).catch(() => undefined);
      throw err;
    }
    return file;
  } finally {
    for (const i of begun) {
      await d.blobs.delete(staging[i]!).catch(() => undefined);
      if (deleted.has(i)) await d.blobs.abortUpload(handleOf(partials[i]!)).catch(() => undefined);
      else await d.store.uploads.abortAssembly(partials[i]!.id, staging[i]!, now()).catch(() => undefined);
    }
  }
}
