/**
 * The metadata store on PostgreSQL, for many instances on one database: one pool per
 * instance (DATABASE_POOL_MAX), migrations applied once under an advisory lock, and each
 * sub-store's check-and-write done by conditional statements or row locks in the database,
 * never by process memory (docs/ports.md).
 */
import type { MetadataStore } from '../types.js';
import { PgBatchStore } from './batches.js';
import { PgClient } from './client.js';
import { PgFileStore } from './files.js';
import { PgFolderStore } from './folders.js';
import { PgLeaseStore } from './leases.js';
import { migratePostgres } from './migrate.js';
import { PgOutbox } from './outbox.js';
import { PgTokenStore } from './tokens.js';
import { PgUploadStore } from './uploads.js';
import { PgUserStore } from './users.js';

export interface PgStoreOptions {
  poolMax: number;
  /** An idle pooled connection failed (the server restarted): logged, never fatal. */
  onIdleError?: (err: Error) => void;
}

/** The store plus what only PostgreSQL has (the pool, for the key store and the login throttle). */
export interface PgMetadataStore extends MetadataStore {
  readonly pg: PgClient;
}

export async function openPostgresStore(url: string, opts: PgStoreOptions): Promise<PgMetadataStore> {
  const db = new PgClient(url, { max: opts.poolMax, onIdleError: opts.onIdleError });
  try {
    await migratePostgres(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const files = new PgFileStore(db);
  return {
    pg: db,
    users: new PgUserStore(db),
    tokens: new PgTokenStore(db),
    files,
    uploads: new PgUploadStore(db),
    batches: new PgBatchStore(db),
    leases: new PgLeaseStore(db),
    folders: new PgFolderStore(db),
    outbox: new PgOutbox(db),
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {
      await db.close();
    },
  };
}
