/**
 * `cli migrate` applies the schema and exits, on either engine: on a fresh SQLite file it
 * creates every table; on an empty PostgreSQL schema too, and a second run has nothing to do.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, testEnv } from '../helpers/app.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { runNode } from '../config/run-dist.js';

const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true }))));

describe('cli migrate on SQLite', () => {
  it('creates the database with every table, then finds nothing to do', async () => {
    const root = await tempDir('sl-migrate-');
    roots.push(root);
    const env = testEnv(root);
    const first = await runNode('cli.js', ['migrate'], env, root);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('database schema is up to date (sqlite)\n');
    const db = new Database(path.join(root, 'metadata.sqlite'), { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
      expect(tables).toEqual(expect.arrayContaining(['users', 'files', 'uploads', 'upload_parts', 'leases', 'schema_migrations']));
    } finally {
      db.close();
    }
    expect((await runNode('cli.js', ['migrate'], env, root)).code).toBe(0);
  });
});

describePostgres('cli migrate on PostgreSQL', () => {
  it('creates every table in an empty schema, once', async () => {
    const root = await tempDir('sl-migrate-pg-');
    roots.push(root);
    const schema = await freshSchema('mig');
    try {
      const env = testEnv(root, { DATABASE_URL: schema.url, AUTH_KEYS_SECRET: randomBytes(24).toString('hex') });
      const run = await runNode('cli.js', ['migrate'], env, root);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe('database schema is up to date (postgres)\n');
      const c = new pg.Client({ connectionString: schema.url });
      await c.connect();
      try {
        const tables = (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema.schema])).rows.map((r) => r.table_name as string);
        expect(tables).toEqual(expect.arrayContaining(['users', 'files', 'uploads', 'upload_parts', 'leases', 'signing_keys', 'login_failures', 'schema_migrations']));
        expect((await c.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
      expect((await runNode('cli.js', ['migrate'], env, root)).code).toBe(0);
    } finally {
      await schema.drop();
    }
  });
});
