/**
 * The PostgreSQL schema, as versioned migrations applied in order under an advisory lock
 * (migrate.ts). It is the SQLite schema (../migrations.ts) at the same point, written for
 * PostgreSQL: BIGINT for every size, count and time (INTEGER is 32-bit here), and the
 * tables only a shared database needs (signing keys, login failures). test/db/pg-schema.test.ts
 * checks that both engines hold the same tables and columns, so a migration added to one
 * without the other fails the tests.
 */
import type { Migration } from '../migrations.js';

export const pgMigrations: Migration[] = [
  {
    version: 1,
    name: 'the schema of SQLite migration 8, and shared signing keys and login failures',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL UNIQUE,
        email TEXT,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        is_active INTEGER NOT NULL DEFAULT 1,
        quota_bytes BIGINT,
        created_at TEXT NOT NULL,
        deleted_at TEXT
      );
      CREATE TABLE refresh_families (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE INDEX refresh_families_user ON refresh_families(user_id);
      CREATE TABLE refresh_tokens (
        jti TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES refresh_families(id),
        access_jti TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        replaced_by TEXT,
        issued_at BIGINT,
        access_expires_at BIGINT
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
      CREATE INDEX refresh_tokens_access ON refresh_tokens(access_jti);
      CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX revoked_tokens_expiry ON revoked_tokens(expires_at);

      -- COLLATE "C": ids, keys, folders and times compare byte by byte, as in SQLite, whatever
      -- the database's locale, so listings, keyset pages and folder ranges agree with SQLite's.
      CREATE TABLE files (
        id TEXT COLLATE "C" PRIMARY KEY,
        key TEXT COLLATE "C" NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        folder TEXT COLLATE "C" NOT NULL,
        filename TEXT NOT NULL,
        size BIGINT NOT NULL,
        mime TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX files_user_recent ON files(user_id, created_at DESC, id DESC, folder);
      CREATE INDEX files_user_folder ON files(user_id, folder, created_at DESC, id DESC);
      CREATE INDEX files_user_folder_size ON files(user_id, folder, size);
      CREATE TABLE user_usage (
        user_id TEXT PRIMARY KEY,
        file_count BIGINT NOT NULL DEFAULT 0,
        used_bytes BIGINT NOT NULL DEFAULT 0,
        reserved_bytes BIGINT NOT NULL DEFAULT 0,
        open_uploads BIGINT NOT NULL DEFAULT 0
      );
      CREATE TABLE uploads (
        id TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        filename TEXT NOT NULL,
        folder TEXT NOT NULL,
        size BIGINT NOT NULL,
        mime TEXT NOT NULL,
        sha256 TEXT,
        part_size BIGINT NOT NULL,
        part_count INTEGER NOT NULL,
        state TEXT NOT NULL,
        file_key TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        blob_ref TEXT NOT NULL DEFAULT '',
        lease_until BIGINT
      );
      -- Keyset orders: stale uploads by (updated_at, id), lapsed assemblies by id within a state.
      CREATE INDEX uploads_activity ON uploads(updated_at, id);
      CREATE INDEX uploads_state ON uploads(state, id);
      CREATE TABLE upload_parts (
        upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        part_number INTEGER NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        ref TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (upload_id, part_number)
      );

      CREATE TABLE batch_downloads (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT,
        name TEXT NOT NULL,
        compression TEXT NOT NULL,
        file_ids TEXT NOT NULL,
        file_count BIGINT NOT NULL,
        total_size BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX batch_downloads_expiry ON batch_downloads(expires_at);
      CREATE INDEX batch_downloads_user ON batch_downloads(user_id, expires_at);

      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );

      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        private_jwk_sealed TEXT NOT NULL
      );
      CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        reset_at BIGINT NOT NULL
      );
      CREATE INDEX login_failures_reset ON login_failures(reset_at);
    `,
  },
  {
    version: 2,
    name: 'SQLite migration 9: part writes in flight (the part-write fence)',
    sql: `
      CREATE TABLE upload_writes (
        upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        write_id TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        PRIMARY KEY (upload_id, write_id)
      );
    `,
  },
  {
    version: 3,
    name: 'SQLite migration 10: webhook outbox',
    sql: `
      CREATE TABLE webhook_deliveries (
        seq BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL,
        url TEXT NOT NULL,
        user_id TEXT COLLATE "C" NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_until BIGINT,
        lease_holder TEXT,
        last_attempt_at BIGINT,
        last_error TEXT,
        delivered_at BIGINT,
        UNIQUE (event_id, url)
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
      CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(user_id, url, seq);
    `,
  },
  {
    version: 4,
    name: 'SQLite migration 11: file moves journal; files by folder and name',
    sql: `
      CREATE TABLE file_moves (
        file_id TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT NOT NULL,
        from_key TEXT COLLATE "C" NOT NULL,
        to_key TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX file_moves_user ON file_moves(user_id, created_at);
      CREATE INDEX files_user_folder_name ON files(user_id, folder, filename);
    `,
  },
  {
    version: 5,
    name: 'SQLite migration 12: move clash index by (user, filename, folder)',
    sql: `
      DROP INDEX IF EXISTS files_user_folder_name;
      CREATE INDEX files_user_name ON files(user_id, filename, folder);
    `,
  },
  {
    version: 6,
    name: 'SQLite migration 13: listing indexes by name and by size (ties by id)',
    // SQLite's lower(filename) is spelled translate(…) here: lower() would fold É as well (src/db/pg/files.ts).
    sql: `
      CREATE INDEX files_user_folder_lname ON files(user_id, folder, translate(filename, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), id);
      CREATE INDEX files_user_folder_size_id ON files(user_id, folder, size, id);
    `,
  },
  {
    version: 7,
    name: 'SQLite migration 14: the partial uploads a tus final upload was made of',
    sql: `
      CREATE TABLE tus_finals (
        file_id TEXT COLLATE "C" PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        partials TEXT NOT NULL
      );
    `,
  },
];
