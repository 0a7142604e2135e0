/**
 * The two schemas kept in step: every table of the SQLite migrations exists on PostgreSQL with
 * the same columns, and PostgreSQL has only the tables a shared database needs on top. A
 * migration added to one engine and not the other fails here. On PostgreSQL every size, count
 * and time column is BIGINT (INTEGER is 32-bit there).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import { tempDir } from '../helpers/app.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';

/** Tables only PostgreSQL has: the key ring and login failures live in files and memory on one instance. */
const POSTGRES_ONLY = ['signing_keys', 'login_failures'];
/** Columns that hold sizes, counts or unix times and must be 64-bit on PostgreSQL. */
const WIDE = /(^|_)(size|bytes|count|uploads|at|until)$/;

describePostgres('the PostgreSQL schema', () => {
  it('has every SQLite table with the same columns, plus only the shared-database tables; sizes and times are BIGINT', async () => {
    const dir = await tempDir('sl-schema-');
    const file = path.join(dir, 'metadata.sqlite');
    await (await openMetadataStore({ databaseUrl: `sqlite:${file}` })).close();
    const lite = new Database(file, { readonly: true });
    const sqlite = new Map<string, string[]>();
    try {
      const tables = lite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
      for (const t of tables) sqlite.set(t, (lite.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name).sort());
    } finally {
      lite.close();
      await fs.rm(dir, { recursive: true, force: true });
    }

    const schema = await freshSchema('schema');
    const c = new pg.Client({ connectionString: schema.url });
    try {
      await (await openMetadataStore({ databaseUrl: schema.url })).close();
      await c.connect();
      const rows = (
        await c.query<{ table_name: string; column_name: string; data_type: string }>(
          'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1',
          [schema.schema],
        )
      ).rows;
      const postgres = new Map<string, string[]>();
      for (const r of rows) postgres.set(r.table_name, [...(postgres.get(r.table_name) ?? []), r.column_name].sort());

      expect([...postgres.keys()].sort()).toEqual([...sqlite.keys(), ...POSTGRES_ONLY].sort());
      for (const [table, columns] of sqlite) expect(postgres.get(table), table).toEqual(columns);
      // ISO-8601 strings (users, files, schema_migrations) are TEXT on both engines; a part
      // count (≤ 10,000) and a per-minute failure count are small by nature.
      const narrow = rows
        .filter((r) => WIDE.test(r.column_name) && !['bigint', 'text'].includes(r.data_type))
        .map((r) => `${r.table_name}.${r.column_name} ${r.data_type}`);
      expect(narrow.sort()).toEqual(['login_failures.count integer', 'uploads.part_count integer']);
    } finally {
      await c.end();
      await schema.drop();
    }
  });
});
