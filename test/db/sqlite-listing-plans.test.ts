/**
 * SQLite listings at 100,000 files in one folder (the web app's worst case): a page in every
 * sort and order, first and deep (keyset at 50,000), walks an index in that order — no sort of
 * the folder's files (no TEMP B-TREE) — and a name filter scans the folder once. PostgreSQL:
 * the same checks in pg-listing-plans.test.ts. Times are printed and held to wide bounds.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import { listPageSql } from '../../src/db/sqlite-listing.js';
import type { FileRecord, ListQuery, MetadataStore } from '../../src/db/types.js';

const N = 100_000;
const BOUND_MS = 1000;

describe('listing at 100,000 files in one folder: SQLite plans in every order', () => {
  let dir: string;
  let store: MetadataStore;
  let db: Database.Database;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-lscale-'));
    const file = path.join(dir, 'metadata.sqlite');
    store = await openMetadataStore({ databaseUrl: `sqlite:${file}` });
    db = new Database(file);
    // 90% in "big" (names repeat in mixed case, sizes repeat: ties everywhere), 10% elsewhere.
    db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${N}),
      g AS (SELECT i, printf('%032x', i) AS id, CASE WHEN i % 10 = 0 THEN 'misc/' || (i % 7) ELSE 'big' END AS folder,
                   CASE WHEN i % 2 = 0 THEN 'File-' ELSE 'file-' END || (i % 20000) || '.bin' AS name FROM n)
      INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at)
      SELECT id, 'storage/u/' || folder || '/' || id || '_' || name, 'u', folder, name, i % 1000, 'x', 'e', strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + i / 3, 'unixepoch') FROM g`);
    db.exec(`INSERT INTO user_usage (user_id, file_count, used_bytes) SELECT user_id, COUNT(*), SUM(size) FROM files GROUP BY user_id
      ON CONFLICT (user_id) DO UPDATE SET file_count = excluded.file_count, used_bytes = excluded.used_bytes`);
    // No ANALYZE: the server never runs it, so these are the plans a deployment gets.
  }, 60_000);
  afterAll(async () => {
    db?.close();
    await store?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const plan = (q: ListQuery) => {
    const s = listPageSql('u', q);
    return (db.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(s.params) as { detail: string }[]).map((r) => r.detail).join('; ');
  };
  const position = (f: FileRecord, sort: string): ListQuery['after'] =>
    sort === 'date' ? { createdAt: f.createdAt, id: f.id } : sort === 'name' ? { filename: f.filename, id: f.id } : { size: f.size, id: f.id };

  it('one folder: every sort and order, first page and deep, walks its index without sorting; within bounds', async () => {
    const index = { date: 'files_user_folder', name: 'files_user_folder_lname', size: 'files_user_folder_size_id' };
    const times: string[] = [];
    for (const sort of ['date', 'name', 'size'] as const) {
      for (const order of ['asc', 'desc'] as const) {
        const q: ListQuery = { folder: 'big', recursive: false, limit: 200, sort, order };
        // The row at 50,000 in this order: the keyset position of a page deep in the folder.
        const deepRow = db.prepare(`SELECT * FROM (${listPageSql('u', { ...q, limit: 50_001 }).sql}) LIMIT 1 OFFSET 50000`).get(listPageSql('u', { ...q, limit: 50_001 }).params) as Record<string, unknown>;
        const deep = { ...q, after: position({ createdAt: deepRow.created_at, filename: deepRow.filename, size: deepRow.size, id: deepRow.id } as FileRecord, sort) };
        for (const [label, query] of [['first', q], ['deep', deep]] as const) {
          const p = plan(query);
          expect(p, `${sort} ${order} ${label}`).toContain(`INDEX ${index[sort]} `);
          expect(p, `${sort} ${order} ${label}`).not.toMatch(/TEMP B-TREE/);
          await store.files.listFiles('u', query); // warm
          const t = performance.now();
          const page = await store.files.listFiles('u', query);
          const ms = performance.now() - t;
          times.push(`${sort} ${order} ${label} ${ms.toFixed(1)} ms`);
          expect(page.files).toHaveLength(200);
          expect(page).toMatchObject({ totalCount: 90_000, hasMore: true });
          expect(ms, `${sort} ${order} ${label}`).toBeLessThan(BOUND_MS / 4);
        }
      }
    }
    const t = performance.now();
    const found = await store.files.listFiles('u', { folder: 'big', recursive: false, limit: 200, sort: 'name', order: 'asc', nameContains: 'FILE-1999' });
    const filterMs = performance.now() - t;
    times.push(`filter ${filterMs.toFixed(1)} ms`);
    // file-1999, file-19990…19999 in both cases: the i below 100,000 with i % 20000 among them, not multiples of 10.
    expect(found.totalCount).toBe(found.files.length);
    expect(found.files.every((f) => f.filename.toLowerCase().includes('file-1999'))).toBe(true);
    expect(filterMs).toBeLessThan(BOUND_MS);
    console.log(`SQLite, 100k files, one folder of 90k, pages of 200: ${times.join(', ')}`);
  });
});
