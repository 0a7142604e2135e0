/**
 * Every error code the server raises, as a closed union (after jose's `JOSEErrorCode`): a
 * `switch (err.code)` narrows, a typo does not compile, and the HTTP error handler must give
 * each one a status (its table is a `Record<ErrorCode, number>`; test/errors/codes.test.ts).
 * Codes are part of the API (docs/api.md, "Error codes"): add, never rename.
 */
export const ERROR_CODES = [
  // The input is wrong (a field, a key, a digest, a request the parser refuses).
  'validation_error',
  'user_id_required',
  'invalid_key',
  'invalid_cursor',
  'invalid_upload_id',
  'invalid_checksum',
  'checksum_mismatch',
  'part_size_mismatch',
  'invalid_part_number',
  'upload_incomplete',
  'multipart_required',
  'expires_in_too_large',
  'expires_hours_too_large',
  'expires_hours_too_small',
  'role_above_user',
  'invalid_scope',
  'empty_batch',
  'invalid_name',
  'invalid_url',
  'invalid_header',
  'invalid_framing',
  'malformed_request',
  'checksum_algorithm_unsupported',
  'invalid_content_type',
  'invalid_move',
  // Who is calling is not known.
  'unauthorized',
  'invalid_token',
  'invalid_credentials',
  // The caller is known and may not do this.
  'insufficient_scope',
  'forbidden_user',
  'csrf_rejected',
  'not_a_user',
  'user_disabled',
  'invalid_signature',
  'url_expired',
  'upload_url_used',
  'upload_url_cannot_read',
  // Nothing there (or not the caller's).
  'not_found',
  'file_not_found',
  'files_not_found',
  'upload_not_found',
  'user_not_found',
  'batch_not_found',
  // The thing exists but is in the wrong state.
  'upload_not_open',
  'upload_completed',
  'complete_in_progress',
  'username_taken',
  'name_clash',
  'precondition_failed',
  'range_not_satisfiable',
  'offset_mismatch',
  'tus_version_unsupported',
  'upload_checksum_mismatch',
  // Too big or too many.
  'payload_too_large',
  'file_too_large',
  'part_too_large',
  'too_many_files',
  'batch_too_large',
  'chunk_extensions_too_large',
  'headers_too_large',
  'quota_exceeded',
  'file_count_exceeded',
  'too_many_uploads',
  'too_many_batches',
  'too_many_connections',
  'too_many_requests',
  // Too slow.
  'request_timeout',
  'body_too_slow',
  // The server cannot do it now.
  'login_busy',
  'insufficient_storage',
  'database_unavailable',
  'storage_unavailable',
  'storage_error',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN.has(code);
}
