/**
 * The upload protocol: init, part, status, abort, complete and the one-request upload. The
 * routes validate with these schemas (init's partSize gets its storage bounds as a
 * description there); the SDK takes its types from them.
 */
import { z } from 'zod';
import { fileRecordSchema } from './files.js';
import { filenameSchema, folderSchema, mimeSchema, userIdSchema } from './names.js';

export const uploadIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, { message: 'not an uploadId' });
export const partNumberSchema = z.coerce.number().int().min(1).max(10_000);
/** Clients omit the folder, or send null or "" for none. */
export const optionalFolder = z.preprocess((v) => (v === '' || v === null ? undefined : v), folderSchema.optional());
export const sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex characters' });

export const uploadModeSchema = z.enum(['single', 'chunked', 'batch']);

export const initFileSchema = z.object({ name: filenameSchema, size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), mime: mimeSchema.optional(), sha256: sha256Hex.optional() });

export const initQuery = z.object({ user_id: userIdSchema.optional() });
export const initBody = z.object({
  mode: uploadModeSchema,
  files: z.array(initFileSchema).min(1).max(1000),
  folder: optionalFolder,
  // Bounds are the storage's (BlobStore.capabilities), checked by UploadService.init.
  partSize: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  user_id: userIdSchema.optional(),
});

export const initUploadSchema = z.object({ uploadId: z.string(), name: z.string(), size: z.number(), mime: z.string(), folder: z.string().nullable(), partSize: z.number(), partCount: z.number(), expiresAt: z.string() });
export const initReply = z.object({ uploadId: z.string(), uploads: z.array(initUploadSchema) });

export const uploadParams = z.object({ uploadId: uploadIdSchema });

export const uploadStatusReply = z.object({
  uploadId: z.string(),
  state: z.string(),
  name: z.string(),
  size: z.number(),
  mime: z.string(),
  folder: z.string().nullable(),
  partSize: z.number(),
  partCount: z.number(),
  receivedBytes: z.number(),
  parts: z.array(z.object({ partNumber: z.number(), size: z.number(), sha256: z.string() })),
  expiresAt: z.string(),
  key: z.string().nullable(),
});

export const abortReply = z.object({ uploadId: z.string(), aborted: z.literal(true) });

export const completeBody = z.object({
  uploadId: uploadIdSchema,
  meta: z.object({ filename: filenameSchema.optional(), folder: optionalFolder }).nullish(),
  sha256: sha256Hex.optional(),
});

/** Where a part goes: the query of a raw PUT, or the fields of a multipart POST. */
export const partQuery = z.object({ uploadId: uploadIdSchema.optional(), partNumber: partNumberSchema.optional() });
export const partLocator = z.object({ uploadId: uploadIdSchema, partNumber: partNumberSchema });
export const partReply = z.object({ uploadId: z.string(), partNumber: z.number().int(), size: z.number().int(), sha256: z.string() });

export const oneRequestQuery = z.object({ user_id: userIdSchema.optional(), folder: optionalFolder });
export const oneRequestReply = z.object({ files: z.array(fileRecordSchema) });

export type UploadMode = z.infer<typeof uploadModeSchema>;
export type InitBody = z.input<typeof initBody>;
export type InitReply = z.infer<typeof initReply>;
export type InitUpload = z.infer<typeof initUploadSchema>;
export type UploadStatus = z.infer<typeof uploadStatusReply>;
export type UploadedPart = UploadStatus['parts'][number];
export type AbortReply = z.infer<typeof abortReply>;
export type CompleteBody = z.input<typeof completeBody>;
export type PartReply = z.infer<typeof partReply>;
export type OneRequestReply = z.infer<typeof oneRequestReply>;
