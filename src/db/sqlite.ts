/**
 * Opening the embedded SQLite database: WAL mode, synchronous=NORMAL (safe against process
 * crashes with WAL; only an OS crash can lose the last commits), versioned migrations.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrations } from './migrations.js';
import { SqliteUserStore } from './sqlite-users.js';
import { SqliteTokenStore } from './sqlite-tokens.js';
import { SqliteFileStore } from './sqlite-files.js';
import { QuotaLedger } from './sqlite-quota.js';
import { SqliteUploadStore } from './sqlite-uploads.js';
import { SqliteBatchStore } from './sqlite-batches.js';
import type { MetadataStore } from './types.js';

export function openSqlite(file: string): Database.Database {
  if (file !== ':memory:') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Created 0600 whatever the umask: it holds password hashes. SQLite gives its -wal and
    // -shm files the database file's mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
    })();
  }
}

/** Opens (creating and migrating as needed) the SQLite metadata store at `file`. */
export function openSqliteStore(file: string): MetadataStore {
  const db = openSqlite(file);
  const ledger = new QuotaLedger(db);
  const files = new SqliteFileStore(db, ledger);
  return {
    users: new SqliteUserStore(db),
    tokens: new SqliteTokenStore(db),
    files,
    uploads: new SqliteUploadStore(db, ledger, files),
    batches: new SqliteBatchStore(db),
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
