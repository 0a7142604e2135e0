/**
 * The issuer's routes (login, refresh, me, logout, service-minted tokens) and user
 * management. The routes validate with these schemas; the SDK takes its types from them.
 */
import { z } from 'zod';
import { usageFields } from './files.js';
import { userIdSchema } from './names.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;

export const tokenPair = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
});

export const userSummary = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  role: z.string(),
  roles: z.array(z.string()),
});

export const loginBody = z.object({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  /** "cookie": the tokens go into HttpOnly cookies (browser session) instead of the reply body. */
  session: z.literal('cookie').optional(),
});
export const loginReply = tokenPair.extend({ user: userSummary });
export const refreshBody = z.object({ refresh_token: z.string().min(1).max(8192) });
/** Cookie sessions send no body, `{}`, or a refresh_token (which wins over the cookie). */
export const refreshBodyOrCookie = z.object({ refresh_token: z.string().min(1).max(8192).optional() }).nullish();
/**
 * A cookie session's reply: no token a script could read, only when they lapse, so the page
 * can refresh before `expires_in` runs out.
 */
export const cookieSessionReply = z.object({
  session: z.literal('cookie'),
  token_type: z.literal('cookie'),
  expires_in: z.number().int(),
  refresh_expires_in: z.number().int(),
});
export const cookieLoginReply = cookieSessionReply.extend({ user: userSummary });
export const meReply = userSummary.extend({ scopes: z.array(z.string()), is_active: z.boolean(), ...usageFields });
export const logoutBody = z.object({ refresh_token: z.string().max(8192).optional() }).nullish();
export const messageReply = z.object({ message: z.string() });

// ---- user management (/v1/admin/users) ----

export const usernameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, { message: 'letters, digits and . _ @ - only' });
export const passwordSchema = z.string().min(8, { message: 'must be at least 8 characters' }).max(1024);
export const roleSchema = z.enum(ROLES);

export const adminUserSchema = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string().nullable(),
  role: z.string(),
  roles: z.array(z.string()),
  is_active: z.boolean(),
  quota_gb: z.number().nullable(),
  created_at: z.string(),
});
export const userIdParams = z.object({ id: z.string().min(1).max(128) });
export const createUserBody = z.object({
  username: usernameSchema,
  password: passwordSchema,
  role: roleSchema.optional(),
  email: z.email().max(320).optional(),
});
export const updateUserBody = z
  .object({
    role: roleSchema.optional(),
    password: passwordSchema.optional(),
    is_active: z.boolean().optional(),
    quota_gb: z.number().positive().max(1_000_000).nullable().optional(),
    email: z.email().max(320).nullable().optional(),
  })
  .strict();
export const userListReply = z.object({ users: z.array(adminUserSchema) });
export const deleteUserReply = z.object({ deleted: z.literal(true), id: z.string() });

// ---- POST /v1/files/generate-token (service token only) ----

/** Hours as plain decimal notation: "16" or "0.5", never "0x10", "1e1" or " 16" (which Number() takes). */
const hoursSchema = z
  .union([z.number(), z.string().regex(/^[0-9]+(\.[0-9]+)?$/, { message: 'expected decimal digits, e.g. 2 or 0.5' }).transform(Number)])
  .pipe(z.number().positive());

export const generateTokenParams = z.object({
  user_id: userIdSchema.optional(),
  expires_hours: hoursSchema.optional(),
  role: roleSchema.optional(),
  scope: z.string().max(512).optional(),
});
export const generateTokenReply = z.object({
  token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
  expires_at: z.string(),
  user_id: z.string(),
});

export type Role = (typeof ROLES)[number];
export type TokenPair = z.infer<typeof tokenPair>;
export type LoginReply = z.infer<typeof loginReply>;
export type CookieSessionReply = z.infer<typeof cookieSessionReply>;
export type CookieLoginReply = z.infer<typeof cookieLoginReply>;
export type UserSummary = z.infer<typeof userSummary>;
export type MeReply = z.infer<typeof meReply>;
export type AdminUser = z.infer<typeof adminUserSchema>;
export type CreateUserBody = z.input<typeof createUserBody>;
export type UpdateUserBody = z.input<typeof updateUserBody>;
export type GenerateTokenParams = z.input<typeof generateTokenParams>;
export type GenerateTokenReply = z.infer<typeof generateTokenReply>;

/** GET /.well-known/jwks.json: public keys only (not validated by a schema: jose builds it). */
export interface Jwks {
  keys: Array<{ kty: string; kid: string; alg: string; use: 'sig'; [member: string]: unknown }>;
}
