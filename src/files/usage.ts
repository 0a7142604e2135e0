/** The quota figures shown by GET /v1/files/usage and GET /auth/me: one schema, one shape. */
import { z } from 'zod';
import type { UsageReport } from './file-service.js';

export const usageFields = {
  quota_bytes: z.number().int(),
  used_bytes: z.number().int(),
  reserved_bytes: z.number().int(),
  file_count: z.number().int(),
  open_uploads: z.number().int(),
};

export function usageReply(u: UsageReport): { [K in keyof typeof usageFields]: number } {
  return {
    quota_bytes: u.quotaBytes,
    used_bytes: u.usedBytes,
    reserved_bytes: u.reservedBytes,
    file_count: u.fileCount,
    open_uploads: u.openUploads,
  };
}
