/** The public shape of a file record, as docs/api.md describes it. */
import type { z } from 'zod';
import { fileRecordSchema } from '../contract/files.js';
import type { FileRecord } from '../db/types.js';
import { encodeKeyPath } from './keys.js';

// The schema is the wire contract's (src/contract/files.ts), shared with the SDK.
export { fileRecordSchema };

export type PublicFileRecord = z.infer<typeof fileRecordSchema>;

/** Strong ETag from the content hash: the same bytes always have the same tag. */
export const etagOf = (file: Pick<FileRecord, 'sha256'>): string => `"${file.sha256}"`;

export function publicRecord(file: FileRecord, publicBaseUrl: string): PublicFileRecord {
  return {
    key: file.key,
    filename: file.filename,
    size: file.size,
    mime: file.mime,
    sha256: file.sha256,
    etag: etagOf(file),
    created_at: file.createdAt,
    folder: file.folder === '' ? null : file.folder,
    user_id: file.userId,
    url: `${publicBaseUrl}/${encodeKeyPath(file.key)}`,
  };
}
