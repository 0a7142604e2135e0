/**
 * Opening the embedded SQLite database: WAL mode, synchronous=NORMAL (safe against process
 * crashes with WAL; only an OS crash can lose the last commits), versioned migrations taken
 * under the write lock, so processes opening one file at once apply each migration once.
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
import { SqliteLeaseStore } from './sqlite-leases.js';
import { SqliteFolderStore } from './sqlite-folders.js';
import { SqliteOutbox } from './sqlite-outbox.js';
import type { MetadataStore } from './types.js';
import { StorageFull } from '../errors/index.js';

/**
 * A connection whose transactions all begin IMMEDIATE (the write lock taken at BEGIN), the
 * mode Django's and Rails' SQLite backends offer for the same reason. Every transaction here
 * writes, most after reading (check the quota, then reserve). A deferred one upgrades to the
 * write lock at its first write; when another connection wrote since it read, SQLite cannot
 * wait (the two would deadlock) and fails at once with SQLITE_BUSY: with two threads racing
 * 60% reservations, the loser got that driver error (a 500) in 197 of 200 rounds instead of
 * quota_exceeded. IMMEDIATE waits its turn (busy_timeout) and then reads the winner's write.
 */
class WriteLockingDatabase extends Database {
  override transaction<F extends (...args: never[]) => unknown>(fn: F): Database.Transaction<F> {
    const variants = super.transaction(fn);
    const immediate = diskFullAware(variants.immediate);
    // Every variant but .exclusive begins IMMEDIATE too (`.immediate()` is called in places).
    for (const name of ['default', 'deferred', 'immediate'] as const) Object.defineProperty(immediate, name, { value: immediate });
    Object.defineProperty(immediate, 'exclusive', { value: diskFullAware(variants.exclusive) });
    return immediate as Database.Transaction<F>;
  }

  override prepare<P extends unknown[] | {} = unknown[], R = unknown>(source: string): Database.Statement<P, R> {
    const statement = super.prepare<P, R>(source);
    // INSERT … RETURNING runs through get/all as well as run.
    for (const method of ['run', 'get', 'all'] as const) {
      const original = statement[method] as (...args: unknown[]) => unknown;
      (statement as unknown as Record<string, unknown>)[method] = diskFullAware(original.bind(statement));
    }
    return statement;
  }
}

/**
 * A write the disk has no room for fails with SQLITE_FULL (the statement or transaction rolled
 * back, nothing half-written): the storage-full error (507) the same disk gives for bytes,
 * not a driver error (a 500).
 */
function diskFullAware<F extends (...args: never[]) => unknown>(fn: F): F {
  return ((...args: Parameters<F>): ReturnType<F> => {
    try {
      return fn(...args) as ReturnType<F>;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_FULL') throw new StorageFull('Not enough space on the volume holding the database', err);
      throw err;
    }
  }) as F;
}

export function openSqlite(file: string): Database.Database {
  if (file !== ':memory:') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Created 0600 whatever the umask: it holds password hashes. SQLite gives its -wal and
    // -shm files the database file's mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
  }
  const db = new WriteLockingDatabase(file);
  // First, so that switching to WAL and migrating wait for another process opening the file.
  db.pragma('busy_timeout = 5000');
  try {
    whileBusy(() => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
    });
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs `setup` again while it fails with SQLITE_BUSY, for up to 10 s. Some locks are not
 * waited for by busy_timeout: a connection that finds another one switching a fresh file to
 * WAL, or rebuilding its wal-index, is told SQLITE_BUSY at once (one CI run of four threads
 * opening one new file saw it). Every step of the setup can be run twice.
 */
function whileBusy(setup: () => void): void {
  const deadline = Date.now() + 10_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return setup();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 5 + Math.random() * 20);
    }
  }
}

/**
 * Each pending migration in its own transaction that holds the write lock before it reads
 * schema_migrations: a process that waited for the lock finds the version applied by the one
 * that held it, and skips it. (Reading first and locking later let two processes opening a
 * fresh file both run migration 1: one failed with "table users already exists".)
 */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  })();
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    db.transaction(() => {
      if (isApplied.get(m.version) !== undefined) return;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
  }
}

/** Opens (creating and migrating as needed) the SQLite metadata store at `file`. */
export function openSqliteStore(file: string): MetadataStore {
  const db = openSqlite(file);
  const ledger = new QuotaLedger(db);
  const outbox = new SqliteOutbox(db);
  const files = new SqliteFileStore(db, ledger, outbox);
  return {
    users: new SqliteUserStore(db, outbox),
    tokens: new SqliteTokenStore(db),
    files,
    uploads: new SqliteUploadStore(db, ledger, files),
    batches: new SqliteBatchStore(db),
    leases: new SqliteLeaseStore(db),
    folders: new SqliteFolderStore(db, ledger, outbox),
    outbox,
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
