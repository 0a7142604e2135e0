/** The quota figures shown by GET /v1/files/usage and GET /auth/me: one schema, one shape. */
import { usageFields } from '../contract/files.js';
import type { UsageReport } from './file-service.js';

// The fields are the wire contract's (src/contract/files.ts), shared with the SDK.
export { usageFields };

export function usageReply(u: UsageReport): { [K in keyof typeof usageFields]: number } {
  return {
    quota_bytes: u.quotaBytes,
    used_bytes: u.usedBytes,
    reserved_bytes: u.reservedBytes,
    file_count: u.fileCount,
    open_uploads: u.openUploads,
  };
}
