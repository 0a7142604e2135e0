/** The JSON error shape every failing route answers with (docs/api.md, "Errors"). */
import { z } from 'zod';

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    error: z.string(),
    code: z.string(),
    message: z.string(),
  })
  .passthrough();

export type ErrorReply = z.infer<typeof errorSchema>;
