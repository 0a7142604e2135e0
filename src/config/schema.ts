/**
 * The one schema for the process environment. Every variable the server knows is here,
 * with its default; `upload.env.template` lists the same names (a test keeps them in step).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDurationSeconds } from './durations.js';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes', 'on'].includes(v)));

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number, got "${v}"` });
        return z.NEVER;
      }
      const n = Number(v);
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a number in [${min}, ${max}], got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const decimal = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      if (!/^\d+(\.\d+)?$/.test(v.trim()) || Number(v) <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a positive number, got "${v}"` });
        return z.NEVER;
      }
      return Number(v);
    });

const duration = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const seconds = parseDurationSeconds(v === undefined || v.trim() === '' ? fallback : v);
      if (seconds === null) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 900, 15m, 7d; got "${v}"` });
        return z.NEVER;
      }
      return seconds;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/**
 * http(s) only: `z.url()` alone takes "localhost:5070" (scheme "localhost:") or "javascript:…",
 * whose origin is "null" — and a browser's `Origin: null` would then pass the CSRF check.
 */
const optionalUrl = optionalString.pipe(z.url({ protocol: /^https?$/, message: 'expected an absolute http(s) URL' }).optional());

const secret = optionalString.pipe(
  z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).optional().default('development'),
  PORT: int(5070, 0, 65535),
  BIND_HOST: optionalString.transform((v) => v ?? '127.0.0.1').pipe(
    z.string().refine(
      // An IP address, or a host name; "999.1.1.1" looks like an address and is not one.
      (v) => isIP(v.replace(/^\[|\]$/g, '')) !== 0 || (/^[A-Za-z0-9.-]{1,253}$/.test(v) && !/^[\d.]+$/.test(v)),
      { message: 'expected an IP address (127.0.0.1, 0.0.0.0, ::) or a host name' },
    ),
  ),
  UPLOAD_ROOT: optionalString.transform((v) => v ?? './data'),
  PUBLIC_BASE_URL: optionalUrl,
  MAX_BODY_MB: decimal(5120),
  PER_USER_QUOTA_GB: decimal(500),
  AUTH_SERVICE_TOKEN: secret,
  UPLOAD_SIGNING_KEY: secret,
  AUTH_JWT_PUBLIC_KEY_BASE64: optionalString,
  AUTH_JWT_JWKS_URL: optionalUrl,
  AUTH_JWT_EXTERNAL_ISSUER: optionalString,
  AUTH_JWT_EXTERNAL_AUDIENCE: optionalString,
  AUTH_JWT_EXTERNAL_TRUST_ROLES: bool(false),
  AUTH_JWT_ISSUER: optionalString,
  AUTH_JWT_AUDIENCE: optionalString.transform((v) => v ?? 'stream-line'),
  AUTH_JWT_ALG: z.enum(['ES256', 'RS256', 'EdDSA']).optional().default('ES256'),
  AUTH_KEYS_DIR: optionalString,
  ACCESS_TOKEN_TTL: duration('15m'),
  REFRESH_TOKEN_TTL: duration('7d'),
  MAX_TOKEN_HOURS: int(24, 1, 24 * 366),
  LOGIN_RATE_LIMIT: int(10, 1, 100000),
  PASSWORD_ARGON2_MEMORY_KIB: int(19_456, 1024, 1_048_576),
  PASSWORD_HASH_CONCURRENCY: int(1, 1, 64),
  PASSWORD_HASH_QUEUE: int(32, 0, 100_000),
  REFRESH_REUSE_GRACE_SECONDS: int(10, 0, 300),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^(sqlite:.+|:memory:|postgres(ql)?:\/\/.+)$/, { message: 'expected sqlite:<path>, :memory: or postgres://user:pass@host:port/db' })
      .optional(),
  ),
  DATABASE_POOL_MAX: int(10, 1, 1000),
  AUTH_KEYS_SECRET: secret,
  ADMIN_USERNAME: optionalString,
  ADMIN_PASSWORD: optionalString.pipe(z.string().min(8, { message: 'must be at least 8 characters' }).optional()),
  METRICS_TOKEN: secret,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional().default('info'),
  CORS_ORIGINS: optionalString,
  TRUST_PROXY: optionalString,
  UPLOAD_EXPIRY_HOURS: decimal(24),
  PART_WRITE_LEASE_SECONDS: int(10, 5, 300),
  STREAM_GC_MB: int(8, 0, 1024),
  PUBLIC_STORAGE: bool(true),
  PUBLIC_CACHE_CONTROL: optionalString.transform((v) => v ?? 'public, max-age=3600'),
  SIGNED_URL_MAX_SECONDS: int(7 * 86400, 1, 366 * 86400),
  BATCH_MAX_FILES: int(10000, 1, 1_000_000),
  BATCH_MAX_BYTES: decimal(100 * 1024 * 1024 * 1024),
  BATCH_TOKEN_TTL: duration('15m'),
  ACCEL_REDIRECT_PREFIX: optionalString.pipe(
    z.string().regex(/^\/[A-Za-z0-9_\-/]*\/$/, { message: 'must look like /_protected/' }).optional(),
  ),
  STORAGE_BACKEND: z.enum(['local', 's3']).optional().default('local'),
  S3_ENDPOINT: optionalUrl,
  S3_REGION: optionalString.transform((v) => v ?? 'us-east-1'),
  S3_BUCKET: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'expected a bucket name: 3-63 lower-case letters, digits, dots or hyphens' })
      .optional(),
  ),
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_FORCE_PATH_STYLE: bool(false),
  S3_PREFIX: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/?$/, { message: 'expected a key prefix such as "files/" (safe characters, "/"-separated)' })
      .optional(),
  ),
  S3_CREATE_BUCKET: bool(false),
  S3_DOWNLOAD_REDIRECT: bool(false),
  BODY_IDLE_TIMEOUT_SECONDS: int(60, 1, 3600),
  BODY_MIN_BYTES_PER_SECOND: int(1024, 0, 1024 * 1024 * 1024),
  BODY_MIN_RATE_WINDOW_SECONDS: int(60, 1, 3600),
  MAX_CONNECTIONS: int(10_000, 0, 1_000_000),
  MAX_CONNECTIONS_PER_ADDRESS: int(256, 0, 1_000_000),
  MAX_OPEN_UPLOADS: int(1000, 1, 10_000_000),
  MAX_FILES_PER_USER: int(1_000_000, 0, 1_000_000_000),
  MAX_FILES_PER_REQUEST: int(1000, 1, 100_000),
  MAX_OPEN_BATCHES: int(50, 1, 100_000),
  BATCH_CREATE_RATE_LIMIT: int(30, 1, 100_000),
  SHUTDOWN_GRACE_SECONDS: int(25, 0, 3600),
  WEB_APP: bool(true),
  WEBHOOK_URLS: optionalString.pipe(
    z
      .string()
      .refine((v) => v.split(',').every((u) => /^https?:\/\/[^\s]+$/.test(u.trim()) && URL.canParse(u.trim())), { message: 'expected comma-separated absolute http(s) URLs' })
      .optional(),
  ),
  WEBHOOK_SECRET: secret,
  WEBHOOK_ALLOW_PRIVATE: bool(false),
});

export type Env = z.infer<typeof envSchema>;
export const ENV_NAMES = Object.keys(envSchema.shape) as (keyof Env)[];
