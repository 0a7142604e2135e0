/**
 * Env → typed Config. `loadConfig` is pure (tests call it with a plain object);
 * `ensureSecrets` (in secrets.ts) fills the secrets that may be generated for local use.
 */
import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { algorithmsFor } from '../auth/external.js';
import { envSchema, type Env } from './schema.js';
import { GiB, MiB } from './durations.js';

export interface Config {
  env: Env['NODE_ENV'];
  production: boolean;
  port: number;
  host: string;
  uploadRoot: string;
  publicBaseUrl: string;
  maxFileBytes: number;
  quotaBytes: number;
  logLevel: Env['LOG_LEVEL'];
  trustProxy: boolean | string;
  corsOrigins: string[];
  databaseUrl: string;
  /** PostgreSQL connections per instance. */
  databasePoolMax: number;
  storageBackend: Env['STORAGE_BACKEND'];
  /** S3-compatible object storage (STORAGE_BACKEND=s3). */
  s3: {
    endpoint: string | undefined;
    region: string;
    bucket: string | undefined;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    forcePathStyle: boolean;
    /** '' or ending in '/': every key the server writes starts with it. */
    prefix: string;
    createBucket: boolean;
    /** /get and /storage answer 302 to a presigned GET (≤ 60 s) instead of streaming. */
    downloadRedirect: boolean;
  };
  auth: {
    serviceToken: string | undefined;
    issuer: string;
    audience: string;
    alg: Env['AUTH_JWT_ALG'];
    keysDir: string;
    /** Encrypts the private signing keys kept in a shared database (required with PostgreSQL). */
    keysSecret: string | undefined;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    maxTokenHours: number;
    loginRateLimitPerMinute: number;
    /** argon2id memory (m, KiB) of new password hashes; t = 2, p = 1. */
    argon2MemoryKiB: number;
    /** Password hashes run in worker threads of their own: this many at once, this many waiting. */
    passwordHashConcurrency: number;
    passwordHashQueue: number;
    /** A spent refresh token presented again within this many seconds gets the same successor pair. */
    refreshReuseGraceSeconds: number;
    external: {
      publicKeyPem: string | undefined;
      jwksUrl: string | undefined;
      issuer: string | undefined;
      audience: string | undefined;
      /** Take `role`/`scope` claims of external tokens above operator at face value. */
      trustRoles: boolean;
    };
    admin: { username: string | undefined; password: string | undefined };
  };
  signingKey: string | undefined;
  metricsToken: string | undefined;
  /** partWriteLeaseSeconds: how long a part write of a dead instance can hold up a completion (fenced stores). */
  uploads: { expirySeconds: number; partWriteLeaseSeconds: number };
  serve: {
    publicStorage: boolean;
    publicCacheControl: string;
    signedUrlMaxSeconds: number;
    accelRedirectPrefix: string | undefined;
  };
  batch: { maxFiles: number; maxBytes: number; tokenTtlSeconds: number };
  bodyIdleTimeoutMs: number;
  shutdownGraceMs: number;
  /** STREAM_GC_MB: new external memory that triggers a minor GC (0: V8 decides alone; see ops/gc-pacer.ts). */
  streamGcBytes: number;
  /** The web app at `/` (from dist/webapp/); false: `/` answers 404, the API is unchanged. */
  webApp: boolean;
  /** Events (webhooks, src/events/): destinations, the signing secret (required with URLs), and whether private addresses may be called. */
  webhooks: { urls: string[]; secret: string | undefined; allowPrivate: boolean };
  /** Per-user and per-connection resource limits (docs/api.md "Limits"). 0 means no limit where allowed. */
  limits: {
    bodyMinBytesPerSecond: number;
    bodyMinRateWindowMs: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    maxOpenUploads: number;
    maxFilesPerUser: number;
    maxFilesPerRequest: number;
    maxOpenBatches: number;
    /** Batch-download tokens one user may create per minute (each can cost ~0.2 s of CPU). */
    batchCreatesPerMinute: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
  }
}

/** The PEM text, checked here so that a bad key stops the start with one line, not a stack trace. */
function decodePem(base64: string | undefined): string | undefined {
  if (!base64) return undefined;
  const name = 'AUTH_JWT_PUBLIC_KEY_BASE64';
  const text = Buffer.from(base64, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw new ConfigError(name, 'is not the base64 of a PEM public key');
  if (/PRIVATE KEY-----/.test(text)) throw new ConfigError(name, 'holds a private key: give the public key only');
  let key;
  try {
    key = createPublicKey(text);
  } catch {
    throw new ConfigError(name, 'is not a readable PEM public key');
  }
  if (algorithmsFor(key).length === 0) {
    throw new ConfigError(name, `unsupported key type ${key.asymmetricKeyType ?? '?'} (use RSA, EC P-256/384/521 or Ed25519)`);
  }
  return text;
}

function parseTrustProxy(raw: string | undefined): boolean | string {
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  return raw; // an address list such as "127.0.0.1,::1" or "loopback"
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e = parsed.data;
  if (e.NODE_ENV === 'production' && e.PASSWORD_ARGON2_MEMORY_KIB < 19_456) {
    throw new ConfigError('PASSWORD_ARGON2_MEMORY_KIB', 'must be at least 19456 (OWASP) when NODE_ENV=production');
  }
  if (e.WEBHOOK_URLS && !e.WEBHOOK_SECRET) throw new ConfigError('WEBHOOK_SECRET', 'is required with WEBHOOK_URLS (deliveries are signed with it)');
  if (e.STORAGE_BACKEND === 's3' && !e.S3_BUCKET) throw new ConfigError('S3_BUCKET', 'is required with STORAGE_BACKEND=s3');
  if (e.STORAGE_BACKEND !== 's3' && e.S3_DOWNLOAD_REDIRECT) throw new ConfigError('S3_DOWNLOAD_REDIRECT', 'needs STORAGE_BACKEND=s3');
  const uploadRoot = path.resolve(e.UPLOAD_ROOT);
  const host = e.BIND_HOST.replace(/^\[|\]$/g, '');
  const hostInUrl = isIP(host) === 6 ? `[${host}]` : host;
  const publicBaseUrl = (e.PUBLIC_BASE_URL ?? `http://${hostInUrl}:${e.PORT}`).replace(/\/+$/, '');
  return {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host,
    uploadRoot,
    publicBaseUrl,
    maxFileBytes: Math.floor(e.MAX_BODY_MB * MiB),
    quotaBytes: Math.floor(e.PER_USER_QUOTA_GB * GiB),
    logLevel: e.LOG_LEVEL,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    corsOrigins: (e.CORS_ORIGINS ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
    databaseUrl: e.DATABASE_URL ?? `sqlite:${path.join(uploadRoot, 'metadata.sqlite')}`,
    databasePoolMax: e.DATABASE_POOL_MAX,
    storageBackend: e.STORAGE_BACKEND,
    s3: {
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      bucket: e.S3_BUCKET,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
      prefix: e.S3_PREFIX === undefined ? '' : e.S3_PREFIX.replace(/\/?$/, '/'),
      createBucket: e.S3_CREATE_BUCKET,
      downloadRedirect: e.S3_DOWNLOAD_REDIRECT,
    },
    auth: {
      serviceToken: e.AUTH_SERVICE_TOKEN,
      issuer: e.AUTH_JWT_ISSUER ?? publicBaseUrl,
      audience: e.AUTH_JWT_AUDIENCE,
      alg: e.AUTH_JWT_ALG,
      keysDir: path.resolve(e.AUTH_KEYS_DIR ?? path.join(uploadRoot, 'keys')),
      keysSecret: e.AUTH_KEYS_SECRET,
      accessTtlSeconds: e.ACCESS_TOKEN_TTL,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL,
      maxTokenHours: e.MAX_TOKEN_HOURS,
      loginRateLimitPerMinute: e.LOGIN_RATE_LIMIT,
      argon2MemoryKiB: e.PASSWORD_ARGON2_MEMORY_KIB,
      passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY,
      passwordHashQueue: e.PASSWORD_HASH_QUEUE,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
      external: {
        publicKeyPem: decodePem(e.AUTH_JWT_PUBLIC_KEY_BASE64),
        jwksUrl: e.AUTH_JWT_JWKS_URL,
        issuer: e.AUTH_JWT_EXTERNAL_ISSUER,
        audience: e.AUTH_JWT_EXTERNAL_AUDIENCE,
        trustRoles: e.AUTH_JWT_EXTERNAL_TRUST_ROLES,
      },
      admin: { username: e.ADMIN_USERNAME ?? (e.ADMIN_PASSWORD ? 'admin' : undefined), password: e.ADMIN_PASSWORD },
    },
    signingKey: e.UPLOAD_SIGNING_KEY,
    metricsToken: e.METRICS_TOKEN,
    uploads: { expirySeconds: Math.round(e.UPLOAD_EXPIRY_HOURS * 3600), partWriteLeaseSeconds: e.PART_WRITE_LEASE_SECONDS },
    serve: {
      publicStorage: e.PUBLIC_STORAGE,
      publicCacheControl: e.PUBLIC_CACHE_CONTROL,
      signedUrlMaxSeconds: e.SIGNED_URL_MAX_SECONDS,
      accelRedirectPrefix: e.ACCEL_REDIRECT_PREFIX,
    },
    batch: { maxFiles: e.BATCH_MAX_FILES, maxBytes: Math.floor(e.BATCH_MAX_BYTES), tokenTtlSeconds: e.BATCH_TOKEN_TTL },
    bodyIdleTimeoutMs: e.BODY_IDLE_TIMEOUT_SECONDS * 1000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    streamGcBytes: e.STREAM_GC_MB * 1024 * 1024,
    webApp: e.WEB_APP,
    webhooks: {
      urls: [...new Set((e.WEBHOOK_URLS ?? '').split(',').map((u) => u.trim()).filter(Boolean))],
      secret: e.WEBHOOK_SECRET,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    },
    limits: {
      bodyMinBytesPerSecond: e.BODY_MIN_BYTES_PER_SECOND,
      bodyMinRateWindowMs: e.BODY_MIN_RATE_WINDOW_SECONDS * 1000,
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
      maxOpenUploads: e.MAX_OPEN_UPLOADS,
      maxFilesPerUser: e.MAX_FILES_PER_USER,
      maxFilesPerRequest: e.MAX_FILES_PER_REQUEST,
      maxOpenBatches: e.MAX_OPEN_BATCHES,
      batchCreatesPerMinute: e.BATCH_CREATE_RATE_LIMIT,
    },
  };
}
