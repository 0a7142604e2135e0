/** The one rule for user ids, shared by tokens, routes and storage paths. */
import { z } from 'zod';

export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export const userIdSchema = z
  .string()
  .regex(USER_ID_PATTERN, { message: 'must match [A-Za-z0-9][A-Za-z0-9._@-]{0,127}' });

export const isValidUserId = (value: unknown): value is string => userIdSchema.safeParse(value).success;
