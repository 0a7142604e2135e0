/**
 * Finished files: the public file record, listing, usage, metadata, deletion, signed URLs and
 * ZIP batches. The routes validate with these schemas; the SDK takes its types from them.
 */
import { z } from 'zod';
import { folderSchema, userIdSchema } from './names.js';

/** The public shape of a file record, as docs/api.md describes it. */
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

/** The quota figures shown by GET /v1/files/usage and GET /auth/me: one schema, one shape. */
export const usageFields = {
  quota_bytes: z.number().int(),
  used_bytes: z.number().int(),
  reserved_bytes: z.number().int(),
  file_count: z.number().int(),
  open_uploads: z.number().int(),
};

/** A key in a URL path (`/v1/files/metadata/*`, `DELETE /v1/files/*`). */
export const keyParams = z.object({ '*': z.string().min(1).max(16 * 1024) });

export const listSortSchema = z.enum(['date', 'name', 'size']);
export const listOrderSchema = z.enum(['asc', 'desc']);

export const listQuery = z.object({
  user_id: userIdSchema.optional(),
  folder: folderSchema.optional(),
  recursive: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  // A name cursor holds a filename (255 UTF-8 bytes, JSON escapes double a few): room for it.
  cursor: z.string().max(2048).optional(),
  /** date (default), name (ASCII letters case folded, then bytes) or size; ties broken by file id. */
  sort: listSortSchema.optional(),
  /** Default desc for date and size, asc for name. */
  order: listOrderSchema.optional(),
  /** Only files whose filename contains this (ASCII case folded); the totals count only those. */
  q: z.string().max(255).optional(),
});

export const listReply = z.object({
  files: z.array(fileRecordSchema),
  total_count: z.number().int(),
  total_size: z.number().int(),
  next_cursor: z.string().nullable(),
});

export const usageQuery = z.object({ user_id: userIdSchema.optional() });
export const usageReplySchema = z.object({ user_id: z.string(), ...usageFields });

export const deleteFileReply = z.object({ deleted: z.literal(true), key: z.string() });

export const dispositionSchema = z.enum(['inline', 'attachment']).optional();

export const signedUrlQuery = z.object({
  key: z.string().min(1).max(16 * 1024),
  expires_in: z.coerce.number().int().positive().optional(),
  disposition: dispositionSchema,
});
export const signedUrlReply = z.object({ url: z.string(), exp: z.number().int(), expires_at: z.string() });

export const batchBody = z.object({
  keys: z.array(z.string().min(1).max(16 * 1024)).min(1),
  name: z.string().max(1024).optional(),
  compression: z.enum(['store', 'deflate']).optional(),
  user_id: userIdSchema.optional(),
});
export const batchReply = z.object({ token: z.string(), url: z.string(), expires_at: z.string(), count: z.number().int(), total_size: z.number().int() });

export type FileRecord = z.infer<typeof fileRecordSchema>;
export type ListQuery = z.input<typeof listQuery>;
export type ListSort = z.infer<typeof listSortSchema>;
export type ListOrder = z.infer<typeof listOrderSchema>;
export type ListReply = z.infer<typeof listReply>;
export type UsageReply = z.infer<typeof usageReplySchema>;
export type DeleteFileReply = z.infer<typeof deleteFileReply>;
export type Disposition = NonNullable<z.infer<typeof dispositionSchema>>;
export type SignedUrlQuery = z.input<typeof signedUrlQuery>;
export type SignedUrlReply = z.infer<typeof signedUrlReply>;
export type BatchBody = z.input<typeof batchBody>;
export type BatchReply = z.infer<typeof batchReply>;
