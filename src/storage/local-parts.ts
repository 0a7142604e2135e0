/**
 * The disk store's upload areas, `.parts/{uploadId}/`:
 *   data                  the upload's bytes: part n written in place at (n−1)·partSize, so a
 *                         completion links this file to its key instead of copying it
 *   claim_{n}             the copy that holds part n's region of `data`: a symbolic link to its
 *                         ref, made exclusively: one writer per region, so no copy ever writes
 *                         over another
 *   part_{n}.{attempt}    a copy kept apart ("side" copy): a re-send while the region is held,
 *                         or any part of an upload opened before in-place writes existed
 *   part_{n}              a part recorded before attempts existed (ref '')
 *   moved_{n}.{attempt}   an in-place copy moved out of its region (local-assemble.ts)
 * Every copy has its own ref (in place `i.{attempt}`, apart `{attempt}`), so a copy refused
 * after it arrived never replaced the one the record names: the metadata row says which
 * counts, as S3's ETags do. The upload's handle ref says where its regions are
 * (`inplace.{partSize}.{size}`); '' for an upload opened before, whose parts all live apart.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidInput } from '../errors/index.js';
import type { UploadArea, UploadHandle } from './blob-store.js';
import { isMissing } from './local-errno.js';
import { partFolders } from './local-orphans.js';

const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;
const ATTEMPT = /^[0-9a-f]{16}$/;
const IN_PLACE = /^i\.([0-9a-f]{16})$/;
const LAYOUT = /^inplace\.([1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})$/;
const READ_BUFFER = 1024 * 1024;

export const isUploadId = (name: string): boolean => UPLOAD_ID.test(name);

export const newAttempt = (): string => randomBytes(8).toString('hex');

/** Where an upload's parts go in its data file. */
export interface Layout {
  partSize: number;
  size: number;
}

/** The handle ref of an upload whose parts are written in place. */
export const layoutRef = (l: Layout): string => `inplace.${l.partSize}.${l.size}`;

/** The layout a handle ref names; null for an upload opened before in-place writes (ref ''). */
export function layoutOf(upload: UploadHandle): Layout | null {
  const m = LAYOUT.exec(upload.ref);
  if (!m) return null;
  const l = { partSize: Number(m[1]), size: Number(m[2]) };
  return Number.isSafeInteger(l.partSize) && Number.isSafeInteger(l.size) ? l : null;
}

/** Part n's region of the data file; length 0 past the end (such a part can only live apart). */
export function regionOf(l: Layout, partNumber: number): { offset: number; length: number } {
  const offset = (partNumber - 1) * l.partSize;
  return { offset, length: Math.max(0, Math.min(l.partSize, l.size - offset)) };
}

/** A copy's ref: written in place (the attempt holds its region's claim) or kept apart. */
export const inPlaceRef = (attempt: string): string => `i.${attempt}`;
export const isInPlace = (ref: string): boolean => IN_PLACE.test(ref);

/** Refs come from this store via the metadata row, never from the wire: a bad one is a bug. */
function checkRef(upload: UploadHandle, ref: string): void {
  if (ref !== '' && !ATTEMPT.test(ref) && !IN_PLACE.test(ref)) throw new Error(`invalid part reference for upload ${upload.uploadId}`);
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 999_999) {
    throw new InvalidInput('invalid_part_number', 'Invalid part number');
  }
}

const partName = (partNumber: number): string => String(partNumber).padStart(6, '0');

export class LocalParts {
  constructor(readonly dir: string) {}

  /** The upload's folder, proven to be a direct child of `.parts` by the id's alphabet. */
  folder(upload: UploadHandle): string {
    if (!isUploadId(upload.uploadId)) throw new InvalidInput('invalid_upload_id', 'Invalid uploadId');
    return path.join(this.dir, upload.uploadId);
  }

  data(upload: UploadHandle): string {
    return path.join(this.folder(upload), 'data');
  }

  claim(upload: UploadHandle, partNumber: number): string {
    checkPartNumber(partNumber);
    return path.join(this.folder(upload), `claim_${partName(partNumber)}`);
  }

  /** Where a copy kept apart lives (refs '' and `{attempt}`); the ref is checked like any path part. */
  file(upload: UploadHandle, partNumber: number, ref: string): string {
    checkPartNumber(partNumber);
    checkRef(upload, ref);
    if (isInPlace(ref)) throw new Error(`part ${partNumber} of upload ${upload.uploadId} was written in place`);
    const name = `part_${partName(partNumber)}`;
    return path.join(this.folder(upload), ref === '' ? name : `${name}.${ref}`);
  }

  /**
   * Where an in-place copy's bytes go when a completion places another copy in its region
   * while it is still held (its discard failed, or a store caller joins either): kept apart.
   */
  moved(upload: UploadHandle, partNumber: number, ref: string): string {
    checkPartNumber(partNumber);
    const m = IN_PLACE.exec(ref);
    if (!m) throw new Error(`part ${partNumber} of upload ${upload.uploadId} was not written in place`);
    return path.join(this.folder(upload), `moved_${partName(partNumber)}.${m[1]}`);
  }

  /**
   * Claims part n's region for `ref`; false when another copy holds it. The claim is a
   * symbolic link whose target is the ref: made exclusively and read back in one call each.
   */
  async takeClaim(upload: UploadHandle, partNumber: number, ref: string): Promise<boolean> {
    try {
      await fs.symlink(ref, this.claim(upload, partNumber));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  /** Hands the region to `ref` whatever held it (a completion placing a copy kept apart there). */
  async setClaim(upload: UploadHandle, partNumber: number, ref: string): Promise<void> {
    const claim = this.claim(upload, partNumber);
    const tmp = `${claim}.${randomBytes(6).toString('hex')}`;
    await fs.symlink(ref, tmp);
    await fs.rename(tmp, claim);
  }

  /** The ref of the copy whose bytes part n's region holds, or null when no copy claims it. */
  async claimant(upload: UploadHandle, partNumber: number): Promise<string | null> {
    try {
      return await fs.readlink(this.claim(upload, partNumber));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  /**
   * Gives the region up, if `ref` holds it. Read-then-unlink: one copy is discarded by one
   * caller at a time (the service discards a copy once, when it is refused or replaced).
   */
  async release(upload: UploadHandle, partNumber: number, ref: string): Promise<void> {
    if ((await this.claimant(upload, partNumber)) === ref) await fs.rm(this.claim(upload, partNumber), { force: true });
  }

  async remove(upload: UploadHandle): Promise<void> {
    await fs.rm(this.folder(upload), { recursive: true, force: true });
  }

  async *areas(before: number): AsyncGenerator<UploadArea[]> {
    for await (const page of partFolders(this.dir, isUploadId, before)) {
      yield page.map(({ name, touchedAt }) => ({ handle: { uploadId: name, ref: '' }, touchedAt }));
    }
  }

  /**
   * Where a copy's bytes are: its own file, or its region of the data file (only while it
   * still holds the region's claim; a missing copy → null).
   */
  async source(upload: UploadHandle, part: { partNumber: number; ref: string; size: number }): Promise<{ file: string; start: number } | null> {
    if (!isInPlace(part.ref)) {
      const file = this.file(upload, part.partNumber, part.ref);
      return (await fs.stat(file).catch(() => null))?.isFile() ? { file, start: 0 } : null;
    }
    const l = layoutOf(upload);
    if (l && (await this.claimant(upload, part.partNumber)) === part.ref) return { file: this.data(upload), start: regionOf(l, part.partNumber).offset };
    const moved = this.moved(upload, part.partNumber, part.ref);
    return (await fs.stat(moved).catch(() => null))?.isFile() ? { file: moved, start: 0 } : null;
  }

  /** The bytes of the given copies, in order (each `size` bytes from where it lives). */
  async *concat(upload: UploadHandle, parts: { partNumber: number; ref: string; size: number }[]): AsyncGenerator<Buffer> {
    for (const p of parts) {
      const src = await this.source(upload, p);
      if (!src) throw missingParts([p.partNumber]);
      if (p.size === 0 && isInPlace(p.ref)) continue;
      // A copy kept apart is its whole file, as before; an in-place one is its region (or moved, a region's worth).
      const end = isInPlace(p.ref) ? src.start + p.size - 1 : undefined;
      const stream = createReadStream(src.file, { highWaterMark: READ_BUFFER, start: src.start, end });
      for await (const chunk of stream) yield chunk as Buffer;
    }
  }
}

/** The record names copies the store no longer holds: the client sends those parts again. */
export const missingParts = (missing: number[]): InvalidInput =>
  new InvalidInput('upload_incomplete', `Parts no longer held, send them again: ${missing.slice(0, 20).join(', ')}`, { missing_parts: missing });
