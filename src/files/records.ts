/** The public shape of a file record, as docs/api.md describes it. */
import { z } from 'zod';
import type { FileRecord } from '../db/types.js';
import { encodeKeyPath } from './keys.js';

export const fileRecordSchema = z.object({
  key: z.string(),
  filename: z.string(),
  size: z.number().int(),
  mime: z.string(),
  sha256: z.string(),
  etag: z.string(),
  created_at: z.string(),
  folder: z.string().nullable(),
  user_id: z.string(),
  url: z.string(),
});

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
