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
  {
    version: 2,
    name: 'files and uploads',
    sql: `
      CREATE TABLE files (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        folder TEXT NOT NULL,
        filename TEXT NOT NULL,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX files_user_recent ON files(user_id, created_at DESC, id DESC);
      CREATE INDEX files_user_folder ON files(user_id, folder, created_at DESC, id DESC);
      CREATE TABLE user_usage (
        user_id TEXT PRIMARY KEY,
        file_count INTEGER NOT NULL DEFAULT 0,
        used_bytes INTEGER NOT NULL DEFAULT 0,
        reserved_bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        filename TEXT NOT NULL,
        folder TEXT NOT NULL,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        sha256 TEXT,
        part_size INTEGER NOT NULL,
        part_count INTEGER NOT NULL,
        state TEXT NOT NULL,
        file_key TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX uploads_activity ON uploads(updated_at);
      CREATE INDEX uploads_state ON uploads(state);
      CREATE TABLE upload_parts (
        upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
      );
    `,
  },
  {
    version: 3,
    name: 'batch downloads',
    sql: `
      CREATE TABLE batch_downloads (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT,
        name TEXT NOT NULL,
        compression TEXT NOT NULL,
        keys_json TEXT NOT NULL,
        file_count INTEGER NOT NULL,
        total_size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX batch_downloads_expiry ON batch_downloads(expires_at);
    `,
  },
  {
    version: 4,
    name: 'listing indexes that cover folder filters',
    // Folder-filtered pages: the newest-first index carries the folder, so non-matching rows
    // are skipped without reading the table; totals over a folder read only (folder, size).
    // At 100k files with 10k under the folder: page 9.8 → 7.5 ms, totals 14.6 → 2.9 ms.
    sql: `
      DROP INDEX files_user_recent;
      CREATE INDEX files_user_recent ON files(user_id, created_at DESC, id DESC, folder);
      CREATE INDEX files_user_folder_size ON files(user_id, folder, size);
    `,
  },
  {
    version: 5,
    name: 'refresh tokens: successor and issue times (reuse grace window)',
    // F-16: a spent refresh token presented again within REFRESH_REUSE_GRACE_SECONDS gets the
    // same successor pair. No token is stored: the successor is signed again from its jti and
    // times (replaced_by, issued_at, expires_at, access_expires_at).
    // F-12: the access token's own expiry bounds the revocation rows a family's end writes.
    sql: `
      ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;
      ALTER TABLE refresh_tokens ADD COLUMN issued_at INTEGER;
      ALTER TABLE refresh_tokens ADD COLUMN access_expires_at INTEGER;
    `,
  },
  {
    version: 6,
    name: 'open uploads in the quota ledger; batch tokens by file id',
    // F-07: the ledger counts a user's open uploads beside bytes and files, so the caps are
    // checked in the reservation's own transaction (backfilled from the uploads table).
    // F-08: a batch row held a JSON copy of every key (~10 MB for 9,400 long keys); it now
    // holds the files' 32-hex ids, concatenated. Batch tokens live 15 minutes, so the old
    // table is dropped rather than converted: at worst a token made just before the upgrade
    // answers 404 and the client asks for a new one.
    sql: `
      ALTER TABLE user_usage ADD COLUMN open_uploads INTEGER NOT NULL DEFAULT 0;
      UPDATE user_usage SET open_uploads = (
        SELECT COUNT(*) FROM uploads
        WHERE uploads.user_id = user_usage.user_id AND uploads.state IN ('open', 'assembling')
      );
      DROP TABLE batch_downloads;
      CREATE TABLE batch_downloads (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT,
        name TEXT NOT NULL,
        compression TEXT NOT NULL,
        file_ids TEXT NOT NULL,
        file_count INTEGER NOT NULL,
        total_size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX batch_downloads_expiry ON batch_downloads(expires_at);
      CREATE INDEX batch_downloads_user ON batch_downloads(user_id, expires_at);
    `,
  },
  {
    version: 7,
    name: 'part copies by reference; assembly leases',
    // Ports for S3 and many instances: each recorded part names the copy that counts (an S3
    // ETag, an attempt file on disk); parts recorded before this are the attempt '' (the old
    // file name). An upload being assembled carries a lease; rows assembling at the upgrade
    // have none and are reclaimed by the next sweep, as a crash left them.
    sql: `
      ALTER TABLE upload_parts ADD COLUMN ref TEXT NOT NULL DEFAULT '';
      ALTER TABLE uploads ADD COLUMN blob_ref TEXT NOT NULL DEFAULT '';
      ALTER TABLE uploads ADD COLUMN lease_until INTEGER;
    `,
  },
  {
    version: 8,
    name: 'leases',
    // Named locks with an expiry (LeaseStore): the instance holding 'housekeeping' sweeps
    // uploads and prunes tokens and batches; the others skip. BIGINT: unix ms passes 2^31.
    sql: `
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 9,
    name: 'part writes in flight',
    // The part-write fence (UploadStore.beginPartWrite): on S3 a part's UploadPart must not
    // reach a multipart upload once CompleteMultipartUpload ran (Swift rewrites the completed
    // object's segment), so each write registers here under a short lease before it starts,
    // and a completion waits until none is alive.
    sql: `
      CREATE TABLE upload_writes (
        upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        write_id TEXT NOT NULL,
        lease_until INTEGER NOT NULL,
        PRIMARY KEY (upload_id, write_id)
      );
    `,
  },
  {
    version: 10,
    name: 'webhook outbox',
    // Events (webhooks): one row per event and destination URL, written in the transaction of
    // the change it reports (a durable outbox). seq orders a user's events per URL; the
    // delivery worker takes the head of each (user_id, url) queue under a lease, so instances
    // share the work and a user's next event waits for the previous one. Times are unix ms.
    sql: `
      CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        url TEXT NOT NULL,
        user_id TEXT NOT NULL,
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
    version: 11,
    name: 'file moves journal; files by folder and name',
    // POST /v1/files/move (src/files/move-service.ts): a row per file move in progress, written
    // before the bytes move and removed once the old key's bytes are gone, so a crash between
    // the steps is finished by the next attempt and the orphan sweep spares both keys meanwhile.
    // The index answers "is this filename taken in that folder" (a move's 409) from the index.
    sql: `
      CREATE TABLE file_moves (
        file_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        from_key TEXT NOT NULL,
        to_key TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX file_moves_user ON file_moves(user_id, created_at);
      CREATE INDEX files_user_folder_name ON files(user_id, folder, filename);
    `,
  },
  {
    version: 12,
    name: 'move clash index by (user, filename, folder)',
    // Migration 11's (user_id, folder, filename) began with the listing indexes' columns, and
    // PostgreSQL's planner then took it for folder listings and totals in their place (it is
    // small when filenames repeat). Led by the filename, it serves only the clash probe.
    sql: `
      DROP INDEX IF EXISTS files_user_folder_name;
      CREATE INDEX files_user_name ON files(user_id, filename, folder);
    `,
  },
  {
    version: 13,
    name: 'listing indexes by name and by size (ties by id)',
    // A folder's pages sorted by name walk (folder, lower(filename), id), by size (folder,
    // size, id), either way round, as newest first walks files_user_folder: no sort of the
    // folder's files per page. files_user_folder_size stays as it is for the totals: without
    // the id it is far smaller (PostgreSQL deduplicates its keys), and given id the planner
    // took the name index for totals instead.
    sql: `
      CREATE INDEX files_user_folder_lname ON files(user_id, folder, lower(filename), id);
      CREATE INDEX files_user_folder_size_id ON files(user_id, folder, size, id);
    `,
  },
  {
    version: 14,
    name: 'the partial uploads a tus final upload was made of',
    // tus concatenation: HEAD on a final answers "Upload-Concat: final;<partial URLs>" as the
    // client sent them, after the partials' records are gone (src/tus/concat.ts). The row goes
    // with its file.
    sql: `
      CREATE TABLE tus_finals (
        file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        partials TEXT NOT NULL
      );
    `,
  },
];
