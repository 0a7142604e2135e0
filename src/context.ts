/**
 * Wiring: builds every service from the Config once. `buildApp` and the CLI both use it,
 * so the HTTP layer and the command line run the same code.
 */
import { ConfigError, type Config } from './config/config.js';
import { isShared } from './config/secrets.js';
import { openMetadataStore } from './db/open.js';
import { PgKeyStore } from './db/pg/key-store.js';
import { PgFailureCounts } from './db/pg/login-failures.js';
import type { PgMetadataStore } from './db/pg/store.js';
import type { MetadataStore } from './db/types.js';
import { externalVerifier } from './auth/external.js';
import { Guard } from './auth/guard.js';
import { HashPool } from './auth/hash-pool.js';
import { KeyRing, type KeyRingOptions } from './auth/keyring.js';
import type { KeyStore } from './auth/key-store.js';
import { FileKeyStore } from './auth/key-store-file.js';
import { KeySealer } from './auth/key-store-seal.js';
import { OWASP_ARGON2ID, PasswordHasher } from './auth/passwords.js';
import { ProfileService } from './auth/profile.js';
import { SessionService } from './auth/sessions.js';
import { LoginThrottle, type FailureCounts } from './auth/throttle.js';
import { TokenIssuer } from './auth/token-issuer.js';
import { TokenSigner } from './auth/tokens.js';
import { UserService } from './auth/users.js';
import { AccessVerifier } from './auth/verifier.js';
import { PromTelemetry } from './ops/metrics.js';
import { FileService } from './files/file-service.js';
import { FolderService } from './files/folders.js';
import { MoveService } from './files/move-service.js';
import { UploadService } from './files/upload-service.js';
import { partWriteFenceOf } from './files/part-write-fence.js';
import { BatchService } from './serve/batches.js';
import { DownloadService } from './serve/download-service.js';
import type { BlobStore } from './storage/blob-store.js';
import { openBlobStore } from './storage/open.js';
import { EventFactory } from './events/events.js';
import { systemClock, type Clock } from './util/clock.js';

export interface AppContext {
  config: Config;
  /** Time for every service (tests pass a ManualClock). */
  clock: Clock;
  store: MetadataStore;
  blobs: BlobStore;
  files: FileService;
  /** POST /v1/files/move; file.moved is written in each record switch's transaction (`events`). */
  moves: MoveService;
  folders: FolderService;
  uploads: UploadService;
  downloads: DownloadService;
  batches: BatchService;
  keys: KeyRing;
  signer: TokenSigner;
  verifier: AccessVerifier;
  users: UserService;
  sessions: SessionService;
  /** Tokens minted for backend services (generate-token). */
  issuer: TokenIssuer;
  /** GET /auth/me. */
  profiles: ProfileService;
  guard: Guard;
  telemetry: PromTelemetry;
  /** Password-hashing threads: close on shutdown. */
  hashPool: HashPool;
  /** Webhook events (WEBHOOK_URLS), written with the changes they report; src/events/. */
  events: EventFactory;
}

/** The PostgreSQL pool behind `store`, when that is what DATABASE_URL names. */
function sharedPool(config: Config, store: MetadataStore | undefined): PgMetadataStore['pg'] | undefined {
  if (!isShared(config.databaseUrl)) return undefined;
  const pg = store && 'pg' in store ? (store as PgMetadataStore).pg : undefined;
  // Keys kept in files here would be this instance's alone: a rotation nobody else sees.
  if (!pg) throw new Error('with a PostgreSQL DATABASE_URL, pass the open metadata store (its pool holds the signing keys)');
  return pg;
}

/**
 * Signing keys: in the database with PostgreSQL (one ring for every instance, private parts
 * sealed under AUTH_KEYS_SECRET), else in AUTH_KEYS_DIR. `store` is the open metadata store,
 * required with PostgreSQL.
 */
export function keyRingOptions(config: Config, store?: MetadataStore): KeyRingOptions {
  const a = config.auth;
  // A retired key must outlive every token it signed: the longest lifetime we issue.
  const retentionSeconds = Math.max(a.accessTtlSeconds, a.refreshTtlSeconds, a.maxTokenHours * 3600);
  const pg = sharedPool(config, store);
  let keyStore: KeyStore = new FileKeyStore(a.keysDir);
  if (pg) {
    if (!a.keysSecret) throw new ConfigError('AUTH_KEYS_SECRET', 'is required with a PostgreSQL DATABASE_URL (every instance must share it)');
    keyStore = new PgKeyStore(pg, new KeySealer(a.keysSecret));
  }
  return { store: keyStore, alg: a.alg, retentionSeconds };
}

/** Login-failure counts per username: in the shared database with PostgreSQL, else in memory. */
function loginFailureCounts(config: Config, store: MetadataStore): FailureCounts | undefined {
  const pg = sharedPool(config, store);
  return pg ? new PgFailureCounts(pg) : undefined;
}

export interface ContextOptions {
  /** A pooled database connection failed while idle (a database restart): the pool reconnects. */
  onDatabaseError?: (err: Error) => void;
}

export async function createContext(config: Config, clock: Clock = systemClock, opts: ContextOptions = {}): Promise<AppContext> {
  if (!config.auth.serviceToken || !config.signingKey) {
    throw new Error('createContext needs a config with secrets (see ensureSecrets)');
  }
  const blobs = await openBlobStore(config);
  const store = await openMetadataStore(config, { onIdleError: opts.onDatabaseError });
  // A key ring that cannot open (AUTH_KEYS_SECRET does not open the stored keys) stops the
  // start; the pool is closed so that nothing keeps the process alive after the one-line error.
  const keys = await KeyRing.open({ ...keyRingOptions(config, store), clock }).catch(async (err: unknown) => {
    await store.close().catch(() => undefined);
    throw err;
  });
  const signer = new TokenSigner(keys, {
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    accessTtlSeconds: config.auth.accessTtlSeconds,
    refreshTtlSeconds: config.auth.refreshTtlSeconds,
  });
  const telemetry = new PromTelemetry(store);
  const onFailure = telemetry.authFailure.bind(telemetry);
  const verifier = new AccessVerifier(signer, keys, store.tokens, externalVerifier(config.auth.external), onFailure, {
    trustExternalRoles: config.auth.external.trustRoles,
  });
  const hashPool = new HashPool({ concurrency: config.auth.passwordHashConcurrency, queue: config.auth.passwordHashQueue });
  const events = new EventFactory({ urls: config.webhooks.urls, publicBaseUrl: config.publicBaseUrl, clock });
  const users = new UserService(store.users, new PasswordHasher(hashPool, { ...OWASP_ARGON2ID, memoryKiB: config.auth.argon2MemoryKiB }), store.tokens, events);
  const throttle = new LoginThrottle({
    failuresPerWindow: config.auth.loginRateLimitPerMinute,
    now: () => clock.now(),
    counts: loginFailureCounts(config, store),
  });
  const sessions = new SessionService(users, signer, store.tokens, throttle, { refreshReuseGraceSeconds: config.auth.refreshReuseGraceSeconds });
  const issuer = new TokenIssuer(signer, users, store.tokens, { maxTokenHours: config.auth.maxTokenHours });
  const guard = new Guard({
    serviceToken: config.auth.serviceToken,
    verifier,
    trustedOrigins: config.corsOrigins,
    publicBaseUrl: config.publicBaseUrl,
    onFailure,
  });
  const files = new FileService(
    store,
    blobs,
    {
      maxFileBytes: config.maxFileBytes,
      defaultQuotaBytes: config.quotaBytes,
      maxOpenUploads: config.limits.maxOpenUploads,
      maxFilesPerUser: config.limits.maxFilesPerUser,
      maxFilesPerRequest: config.limits.maxFilesPerRequest,
    },
    telemetry,
    events,
  );
  const profiles = new ProfileService(users, files);
  const moves = new MoveService(store, blobs, clock, {}, events);
  const folders = new FolderService(store, blobs, moves, events);
  const uploads = new UploadService(
    store,
    blobs,
    files,
    { maxFileBytes: config.maxFileBytes, expiryMs: config.uploads.expirySeconds * 1000, partWriteFence: partWriteFenceOf(config.uploads.partWriteLeaseSeconds) },
    telemetry,
    clock,
  );
  const downloads = new DownloadService(files, { signingKey: config.signingKey, publicBaseUrl: config.publicBaseUrl, ...config.serve, clock });
  const batches = new BatchService(
    store,
    { maxFiles: config.batch.maxFiles, maxBytes: config.batch.maxBytes, ttlSeconds: config.batch.tokenTtlSeconds, maxOpen: config.limits.maxOpenBatches },
    // By id: a batch names its files by id, and each record is read as its entry comes.
    { lookup: (id) => files.getById(id), blobs },
    clock,
  );
  // Crash recovery (reopening interrupted completions, removing leftovers) is the server's
  // start-up step (buildApp), not every CLI command's: a CLI run beside a live server must
  // not reopen the uploads that server is completing.
  await users.bootstrapAdmin(config.auth.admin.username, config.auth.admin.password);
  return { config, clock, store, blobs, files, moves, folders, uploads, downloads, batches, keys, signer, verifier, users, sessions, issuer, profiles, guard, telemetry, hashPool, events };
}
