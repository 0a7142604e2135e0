/**
 * Versioned schema migrations, applied in order inside one transaction each.
 * Plain, portable SQL (TEXT/INTEGER, no SQLite-only features) so PostgreSQL can share it.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'users and tokens',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        email TEXT,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        is_active INTEGER NOT NULL DEFAULT 1,
        quota_bytes INTEGER,
        created_at TEXT NOT NULL,
        deleted_at TEXT
      );
      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE TABLE refresh_tokens (
        jti TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families(id),
        access_jti TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
      CREATE INDEX refresh_tokens_access ON refresh_tokens(access_jti);
      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );
    `,
  },
];
