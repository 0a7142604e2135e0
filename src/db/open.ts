/**
 * Opening the metadata store named by DATABASE_URL. Async because a networked database
 * (PostgreSQL) connects and migrates before it can answer; SQLite happens to be
 * ready at once. Every caller (createContext, the CLI through it, the tests' worker threads)
 * goes through here, so a new engine is one more branch.
 */
import path from 'node:path';
import { ConfigError, type Config } from '../config/config.js';
import { openSqliteStore } from './sqlite.js';
import type { MetadataStore } from './types.js';

export interface OpenOptions {
  /** An idle pooled connection failed (a database restart): for the log, never fatal. */
  onIdleError?: (err: Error) => void;
}

export async function openMetadataStore(
  config: Pick<Config, 'databaseUrl'> & Partial<Pick<Config, 'databasePoolMax'>>,
  opts: OpenOptions = {},
): Promise<MetadataStore> {
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:')) return openSqliteStore(path.resolve(url.slice('sqlite:'.length)));
  if (url === ':memory:') return openSqliteStore(':memory:');
  const scheme = url.split(':')[0];
  if (scheme === 'postgres' || scheme === 'postgresql') {
    // Loaded only here: the driver costs ~5 MB of RSS that an embedded (SQLite) process never needs.
    const { openPostgresStore } = await import('./pg/store.js');
    return openPostgresStore(url, { poolMax: config.databasePoolMax ?? 10, onIdleError: opts.onIdleError });
  }
  throw new ConfigError('DATABASE_URL', `unsupported scheme in "${scheme}:" (sqlite: and postgres:// are built in)`);
}
