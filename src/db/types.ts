/**
 * The metadata store port. Routes and services depend on these interfaces only; the
 * embedded default is SQLite (sqlite-store.ts) and the SQL is kept portable so that a
 * PostgreSQL implementation can satisfy the same contract (test/db/conformance.ts).
 * Every method is async for that reason, even though better-sqlite3 is synchronous.
 */
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
  /** Throws ConflictError when the username (case-insensitive) is taken. */
  createUser(user: NewUser): Promise<UserRecord>;
  getUserById(id: string): Promise<UserRecord | null>;
  getUserByUsername(username: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(id: string, patch: UserPatch): Promise<UserRecord | null>;
  /** Soft delete: the user disappears and every token of theirs stops working. */
  deleteUser(id: string): Promise<boolean>;
  countUsers(): Promise<number>;
}

export interface RefreshTokenRow {
  jti: string;
  familyId: string;
  userId: string;
  accessJti: string;
  expiresAt: number; // unix seconds
}

export type RotateOutcome = 'rotated' | 'reused' | 'revoked' | 'unknown';

export interface TokenStore {
  /** Starts a new refresh family (a login) with its first token. */
  createRefreshFamily(row: RefreshTokenRow, now: number): Promise<void>;
  /**
   * Atomically spends `oldJti` and records `next` in the same family. A token that was
   * already spent revokes the whole family ('reused').
   */
  rotateRefreshToken(oldJti: string, next: RefreshTokenRow, now: number): Promise<RotateOutcome>;
  /** Revokes the family that `refreshJti` belongs to, or the one issued with `accessJti`. */
  revokeFamily(ref: { refreshJti?: string; accessJti?: string }, now: number): Promise<void>;
  revokeAccessToken(jti: string, expiresAt: number): Promise<void>;
  /**
   * The per-request check: is this jti revoked, and is the subject a known user who was
   * disabled or deleted? Unknown subjects (users managed elsewhere) are allowed.
   */
  checkToken(jti: string, userId: string): Promise<{ revoked: boolean; userDisabled: boolean }>;
  /** Drops revocation rows and refresh tokens past their expiry. */
  pruneTokens(now: number): Promise<number>;
}

/** The whole metadata store: one sub-store per aggregate, sharing one database. */
export interface MetadataStore {
  users: UserStore;
  tokens: TokenStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}
