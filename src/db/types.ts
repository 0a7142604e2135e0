/**
 * The metadata store port. Routes and services depend on these interfaces only; the
 * embedded default is SQLite (sqlite.ts, opened by open.ts) and the SQL is kept portable so
 * that a PostgreSQL implementation can satisfy the same contract
 * (test/db/metadata-conformance.ts; docs/ports.md says what an engine must provide).
 * Every method is async for that reason, even though better-sqlite3 is synchronous.
 */
import type { OutboxEvent, OutboxStore } from './outbox-types.js';
import type { FolderStore } from './folder-types.js';
import type { UploadStore } from './upload-types.js';

export * from './outbox-types.js';
export * from './upload-types.js';
export * from './folder-types.js';

export type Role = 'viewer' | 'operator' | 'admin';

export interface UserRecord {
  id: string;
  username: string;
  email: string | null;
  passwordHash: string;
  role: Role;
  isActive: boolean;
  quotaBytes: number | null;
  createdAt: string;
}

export interface NewUser {
  id: string;
  username: string;
  email: string | null;
  passwordHash: string;
  role: Role;
  createdAt: string;
}

export interface UserPatch {
  role?: Role;
  passwordHash?: string;
  isActive?: boolean;
  quotaBytes?: number | null;
  email?: string | null;
}

export interface UserStore {
  /**
   * Throws WrongState('username_taken') when the username (case-insensitive) is taken.
   * `event` (user.created) is written to the outbox in the same transaction.
   */
  createUser(user: NewUser, event?: OutboxEvent): Promise<UserRecord>;
  /**
   * Creates the user unless the username (case-insensitive) is taken, in one conditional
   * insert (ON CONFLICT DO NOTHING): instances bootstrapping the same admin at once all
   * succeed, one creates. `user` is the new record, or the one holding the name.
   */
  createUserIfAbsent(user: NewUser): Promise<{ created: boolean; user: UserRecord }>;
  getUserById(id: string): Promise<UserRecord | null>;
  getUserByUsername(username: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  /** `event` (user.disabled) is written with the change, only when a live user was updated. */
  updateUser(id: string, patch: UserPatch, event?: OutboxEvent): Promise<UserRecord | null>;
  /**
   * Sets a live user's password hash to `next` only while it is still `current` (compare and
   * swap): re-hashing an old hash after a login never overwrites a password changed meanwhile.
   * True when it was replaced.
   */
  replacePasswordHash(id: string, current: string, next: string): Promise<boolean>;
  /** Soft delete: the user disappears and every token of theirs stops working. `event` is written only when a user was deleted. */
  deleteUser(id: string, event?: OutboxEvent): Promise<boolean>;
  countUsers(): Promise<number>;
}

export interface RefreshTokenRow {
  jti: string;
  familyId: string;
  userId: string;
  accessJti: string;
  issuedAt: number; // unix seconds: iat of both tokens of the pair
  expiresAt: number; // unix seconds
  accessExpiresAt: number; // unix seconds
}

/**
 * What presenting a refresh token did. 'replayed': it was spent less than the grace window
 * ago and its successor is still unspent, so the caller hands out that successor again.
 */
export type RotateResult =
  | { outcome: 'rotated' }
  | { outcome: 'replayed'; successor: RefreshTokenRow }
  | { outcome: 'reused' | 'revoked' | 'unknown' };

/** The per-request facts about a token's subject and revocation. */
export interface TokenStatus {
  revoked: boolean;
  /** The subject is a local user who was disabled or deleted. */
  userDisabled: boolean;
  /** The subject's current role; null when the subject is not a local user. */
  role: Role | null;
}

export interface TokenStore {
  /** Starts a new refresh family (a login) with its first token. */
  createRefreshFamily(row: RefreshTokenRow, now: number): Promise<void>;
  /**
   * Atomically spends `oldJti` and records `next` in the same family. The spend is one
   * conditional write (unspent, family not revoked) and only the caller whose write changed
   * the row records a successor: of concurrent presentations, on any number of instances,
   * one rotates. A token spent less than `graceSeconds` ago (0: never) whose successor is
   * unspent gives 'replayed' with that successor; any other token that was already spent
   * revokes the whole family ('reused').
   */
  rotateRefreshToken(oldJti: string, next: RefreshTokenRow, now: number, graceSeconds: number): Promise<RotateResult>;
  /** Revokes the family that `refreshJti` belongs to, or the one issued with `accessJti`. */
  revokeFamily(ref: { refreshJti?: string; accessJti?: string }, now: number): Promise<void>;
  /** `id`: a jti, or another revocation id (see AccessVerifier); kept until `expiresAt`. */
  revokeAccessToken(id: string, expiresAt: number): Promise<void>;
  /** Revokes every refresh family of the user and the access tokens issued with them. */
  revokeUserSessions(userId: string, now: number): Promise<void>;
  /**
   * The per-request check: is this revocation id revoked, is the subject a known user who was
   * disabled or deleted, and what is their role now? Unknown subjects (users managed
   * elsewhere) are allowed, with role null.
   */
  checkToken(revocationId: string, userId: string): Promise<TokenStatus>;
  /**
   * Drops revocation rows and refresh tokens whose expiry is before `before`. Callers pass
   * now minus the clock tolerance (SessionService.pruneExpired): a token is accepted until
   * exp + tolerance, and its revocation must last as long.
   */
  pruneTokens(before: number): Promise<number>;
}

/** A stored file. `folder` is '' when the file sits at the user's root. */
export interface FileRecord {
  id: string;
  key: string;
  userId: string;
  folder: string;
  filename: string;
  size: number;
  mime: string;
  sha256: string;
  createdAt: string; // ISO 8601 UTC, millisecond precision
}

/** What a listing is ordered by: creation time, filename (ASCII case folded), or size; ties by id. */
export type ListSort = 'date' | 'name' | 'size';
export type ListOrder = 'asc' | 'desc';

export interface ListQuery {
  folder?: string;
  recursive: boolean;
  limit: number;
  /** Default 'date'. */
  sort?: ListSort;
  /** Default 'desc' for date and size, 'asc' for name (db/listing.ts). */
  order?: ListOrder;
  /** Only files whose filename contains this, ASCII case folded; the totals count only those. */
  nameContains?: string;
  /** Keyset position: strictly after this (the sort's value, then id) in the listing's order. */
  after?: { createdAt: string; id: string } | { filename: string; id: string } | { size: number; id: string };
}

export interface ListPage {
  files: FileRecord[];
  totalCount: number;
  totalSize: number;
  hasMore: boolean;
}


export interface QuotaCheck {
  userId: string;
  /** The user's quota when they have no override. */
  defaultQuotaBytes: number;
  /** Most uploads the user may hold open (or assembling) at once: LimitReached('too_many_uploads'). Absent: no cap. */
  maxOpenUploads?: number;
  /**
   * Most files the user may store, an open upload counting as the file it will become:
   * QuotaExceeded('file_count_exceeded'). Absent or 0: no cap.
   */
  maxFiles?: number;
}

/** A user's ledger: bytes and files stored, bytes and uploads reserved by open uploads. */
export interface Usage {
  usedBytes: number;
  reservedBytes: number;
  fileCount: number;
  openUploads: number;
}

export interface FileStore {
  getFile(key: string): Promise<FileRecord | null>;
  getFileById(id: string): Promise<FileRecord | null>;
  /**
   * The records of those of `ids` that exist, in one query per few hundred ids (any order).
   * By id, not key: a key can be 8 KiB, and index entries that long cost a page read each.
   */
  findFilesByIds(ids: string[]): Promise<FileRecord[]>;
  /**
   * One page of recorded keys at least `minBytes` bytes long, in key order after `after`
   * (the orphan sweep matches them against objects stored under a digest of their key).
   */
  longKeys(minBytes: number, after: string | null, limit: number): Promise<string[]>;
  listFiles(userId: string, query: ListQuery): Promise<ListPage>;
  /**
   * Inserts a finished file, checking atomically that used + reserved + size fits the
   * quota (the one-request upload, whose size is known only at the end). Throws
   * QuotaExceeded('quota_exceeded') when it does not. `event` (file.created) is written in the same transaction.
   */
  insertFile(file: FileRecord, quota: QuotaCheck, event?: OutboxEvent): Promise<void>;
  /**
   * Removes the record and returns it (null when absent); frees its bytes from the quota.
   * `event` (file.deleted) is written in the same transaction, only when a record was removed.
   */
  deleteFile(key: string, event?: OutboxEvent): Promise<FileRecord | null>;
  /** Bytes and files used by finished files, bytes and uploads reserved by open ones. */
  usage(userId: string): Promise<Usage>;
}


/**
 * A ZIP batch: the files a batch-download token stands for, by file id (a key can be 8 KiB;
 * an id is 32 hex characters). Only the token's hash is kept.
 */
export interface BatchRecord {
  /** Lower-case hex sha256 of the token. */
  tokenHash: string;
  /** The user who made it (null for a service acting for nobody in particular). */
  userId: string | null;
  /** The archive's file name, e.g. files.zip. */
  name: string;
  compression: 'store' | 'deflate';
  /** File ids (32 lower-case hex each), in archive order. */
  fileIds: string[];
  fileCount: number;
  totalSize: number;
  createdAt: number; // unix seconds
  expiresAt: number; // unix seconds
}

export interface BatchStore {
  /**
   * Stores a batch unless its user already holds `maxOpen` unexpired ones
   * (LimitReached('too_many_batches')), checked in the insert's own transaction. A batch of no user is not capped.
   */
  createBatch(batch: BatchRecord, maxOpen: number): Promise<void>;
  /** How many unexpired batches at `now` (unix seconds) the user holds. */
  countOpenBatches(userId: string, now: number): Promise<number>;
  /** The batch for this token hash, or null when unknown or expired at `now` (unix seconds). */
  getBatch(tokenHash: string, now: number): Promise<BatchRecord | null>;
  /** Drops batches that expired before `now`; returns how many. */
  pruneBatches(now: number): Promise<number>;
}

/**
 * Named locks with an expiry, for work that one instance of many should do at a time
 * (housekeeping). A holder that dies stops renewing, and its lease lapses after its ttl.
 * Times are unix ms, passed in (the caller's clock), so tests move time instead of sleeping.
 */
export interface LeaseStore {
  /**
   * Takes the lease until now + ttlMs when it is free, expired (expiry <= now) or already
   * `holder`'s (then extended), in one atomic write; false while another holder's is live.
   */
  tryAcquire(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease up, only if `holder` holds it (an expired lease someone else took stays theirs). */
  release(name: string, holder: string): Promise<void>;
  /** Who holds the lease at `now`; null when free or expired. */
  holder(name: string, now: number): Promise<string | null>;
}

/** The whole metadata store: one sub-store per aggregate, sharing one database. */
export interface MetadataStore {
  users: UserStore;
  tokens: TokenStore;
  files: FileStore;
  uploads: UploadStore;
  batches: BatchStore;
  leases: LeaseStore;
  /** Folder summaries and deletes, and the journal of file moves in progress (folder-types.ts). */
  folders: FolderStore;
  /** The webhook outbox (src/events/): events written with the changes they report. */
  outbox: OutboxStore;
  /** Resolves when the database answers a trivial query; rejects when it is unreachable or closed. */
  ping(): Promise<void>;
  /** Releases the connection(s); every call after it rejects. Closing twice is harmless. */
  close(): Promise<void>;
}
