/**
 * Signed upload URLs: a backend mints one (`POST /v1/files/signed-upload-url`), whoever holds
 * it sends the bytes to `/v1/upload/signed?upload&exp&sig` with no other credential. The
 * routes validate with these schemas; the SDK takes its types from them.
 */
import { z } from 'zod';
import { initFileSchema, optionalFolder, partNumberSchema } from './uploads.js';
import { userIdSchema } from './names.js';

export const signedUploadBody = initFileSchema.extend({
  folder: optionalFolder,
  /** Seconds the URL stays valid (default 2 h; at most the upload expiry and SIGNED_URL_MAX_SECONDS). */
  expires_in: z.number().int().positive().optional(),
  user_id: userIdSchema.optional(),
});

export const signedUploadReply = z.object({
  url: z.string(),
  uploadId: z.string(),
  partSize: z.number().int(),
  partCount: z.number().int(),
  expires_at: z.string(),
});

/**
 * The query of a signed upload URL: `upload`, `exp`, `sig` as minted; `partNumber` for one
 * part, `complete=1` to finish. The signature is checked before anything else is looked at.
 */
export const signedUploadQuery = z.object({
  // Any string: a tampered id is a wrong signature (403), not a malformed request.
  upload: z.string().max(128).optional(),
  exp: z.string().max(32).optional(),
  sig: z.string().max(256).optional(),
  partNumber: partNumberSchema.optional(),
  complete: z.literal('1').optional(),
});

export type SignedUploadBody = z.input<typeof signedUploadBody>;
export type SignedUploadReply = z.infer<typeof signedUploadReply>;
export type SignedUploadQuery = z.input<typeof signedUploadQuery>;
