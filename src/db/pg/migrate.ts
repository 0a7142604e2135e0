/**
 * Applies the PostgreSQL migrations once, whichever instance starts first: one transaction
 * takes a transaction-scoped advisory lock (keyed by the schema, so schemas in one database
 * migrate independently), reads what is applied, applies the rest, and commits. An instance
 * starting meanwhile waits on the lock, then finds everything applied. DDL is transactional
 * in PostgreSQL: a failed migration leaves nothing half-made.
 */
import type { Migration } from '../migrations.js';
import type { PgClient } from './client.js';
import { pgMigrations } from './migrations.js';

export interface MigrateResult {
  applied: number[];
  current: number;
}

export async function migratePostgres(db: PgClient, migrations: Migration[] = pgMigrations): Promise<MigrateResult> {
  return db.tx(async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':stream-line:migrations'))`);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const done = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
      applied.push(m.version);
    }
    return { applied, current: Math.max(0, ...done, ...applied) };
  });
}
