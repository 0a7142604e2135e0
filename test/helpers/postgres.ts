/**
 * The test PostgreSQL server (started by test/global-setup.ts) and fresh, isolated schemas in
 * it: each store under test gets its own schema, named in its URL (`options=-c search_path=…`),
 * so suites and worker threads share one cluster without seeing each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';

/** The cluster's URL; throws (fails the suite) when none was started and none was opted out. */
export function postgresUrl(): string {
  const url = process.env.TEST_POSTGRES_URL;
  if (!url) throw new Error('TEST_POSTGRES_URL is not set: the test setup did not start PostgreSQL (SL_TEST_POSTGRES=off leaves these suites out)');
  return url;
}

/** `describe` for PostgreSQL suites: runs them, or — only when opted out — says they were left out. */
export const describePostgres: typeof describe.skip = (process.env.SL_TEST_POSTGRES === 'off' && !process.env.TEST_POSTGRES_URL
  ? describe.skip
  : describe) as typeof describe.skip;

export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** A new empty schema; `drop()` removes it with everything in it. */
export async function freshSchema(prefix = 't'): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const base = postgresUrl();
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  return {
    url: withSchema(base, schema),
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
