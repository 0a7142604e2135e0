/**
 * Opening the metadata store named by DATABASE_URL. Async because a networked database
 * (PostgreSQL, issue 13) connects and migrates before it can answer; SQLite happens to be
 * ready at once. Every caller (createContext, the CLI through it, the tests' worker threads)
 * goes through here, so a new engine is one more branch.
 */
import path from 'node:path';
import { ConfigError, type Config } from '../config/config.js';
import { openSqliteStore } from './sqlite.js';
import type { MetadataStore } from './types.js';

export async function openMetadataStore(config: Pick<Config, 'databaseUrl'>): Promise<MetadataStore> {
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:')) return openSqliteStore(path.resolve(url.slice('sqlite:'.length)));
  if (url === ':memory:') return openSqliteStore(':memory:');
  const scheme = url.split(':')[0];
  if (scheme === 'postgres' || scheme === 'postgresql') {
    throw new ConfigError('DATABASE_URL', 'PostgreSQL is not built in yet (only sqlite: is built in)');
  }
  throw new ConfigError('DATABASE_URL', `unsupported scheme in "${scheme}:" (only sqlite: is built in)`);
}
