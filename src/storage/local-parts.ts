/**
 * The disk store's upload areas: `.parts/{uploadId}/part_{n}.{attempt}`. Every copy of a part
 * gets its own attempt name, so a copy refused after it arrived (wrong checksum, upload no
 * longer open) never replaced the copy the record names: the metadata row says which counts,
 * as S3's ETags do. Parts recorded before attempts existed are named `part_{n}` (ref '').
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidInput } from '../errors/index.js';
import type { UploadArea, UploadHandle } from './blob-store.js';
import { partFolders } from './local-orphans.js';

const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;
const ATTEMPT = /^[0-9a-f]{16}$/;
const READ_BUFFER = 1024 * 1024;

export const isUploadId = (name: string): boolean => UPLOAD_ID.test(name);

export const newAttempt = (): string => randomBytes(8).toString('hex');

export class LocalParts {
  constructor(readonly dir: string) {}

  /** The upload's folder, proven to be a direct child of `.parts` by the id's alphabet. */
  folder(upload: UploadHandle): string {
    if (!isUploadId(upload.uploadId)) throw new InvalidInput('invalid_upload_id', 'Invalid uploadId');
    return path.join(this.dir, upload.uploadId);
  }

  /** Where one copy of a part lives; the attempt is checked like any other path part. */
  file(upload: UploadHandle, partNumber: number, ref: string): string {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 999_999) {
      throw new InvalidInput('invalid_part_number', 'Invalid part number');
    }
    // Refs come from this store via the metadata row, never from the wire: a bad one is a bug.
    if (ref !== '' && !ATTEMPT.test(ref)) throw new Error(`invalid part reference for upload ${upload.uploadId}`);
    const name = `part_${String(partNumber).padStart(6, '0')}`;
    return path.join(this.folder(upload), ref === '' ? name : `${name}.${ref}`);
  }

  async remove(upload: UploadHandle): Promise<void> {
    await fs.rm(this.folder(upload), { recursive: true, force: true });
  }

  async *areas(before: number): AsyncGenerator<UploadArea[]> {
    for await (const page of partFolders(this.dir, isUploadId, before)) {
      yield page.map(({ name, touchedAt }) => ({ handle: { uploadId: name, ref: '' }, touchedAt }));
    }
  }

  /** The bytes of the given copies, in order. */
  async *concat(upload: UploadHandle, parts: { partNumber: number; ref: string }[]): AsyncGenerator<Buffer> {
    for (const p of parts) {
      const stream = createReadStream(this.file(upload, p.partNumber, p.ref), { highWaterMark: READ_BUFFER });
      for await (const chunk of stream) yield chunk as Buffer;
    }
  }
}
