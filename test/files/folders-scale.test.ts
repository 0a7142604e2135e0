/**
 * GET /v1/files/folders at 100,000 files for one user on SQLite (PostgreSQL: the same checks in
 * test/db/pg-listing-plans.test.ts, on its 120,000-row table): the totals
 * are one GROUP BY read from the (user_id, folder, size) index alone (for a folder: a range of
 * it, no table rows), and a move's clash check is one probe of (user_id, folder, filename).
 * Times are printed and held to wide bounds (the shared test machine is slow and busy).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore } from '../../src/db/types.js';

const N = 100_000;
/** 10% under docs (a third in docs itself), 1% under small/…, the rest in misc/0…49. */
const FOLDER_SQL = `CASE WHEN i % 10 = 0 THEN 'docs' || CASE WHEN i % 3 = 0 THEN '' ELSE '/y' || ((i / 10) % 5) END
  WHEN i % 100 = 1 THEN 'small/' || (i % 4) ELSE 'misc/' || (i % 50) END`;
const BOUND_MS = 1000;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  await fn(); // warm: statement prepared, pages cached
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

describe('folders at 100,000 files: SQLite', () => {
  let dir: string;
  let store: MetadataStore;
  let db: Database.Database;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-fscale-'));
    const file = path.join(dir, 'metadata.sqlite');
    store = await openMetadataStore({ databaseUrl: `sqlite:${file}` });
    db = new Database(file);
    // One statement (a counting CTE): ~10× faster than 100,000 prepared inserts from JavaScript.
    db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${N}),
      g AS (SELECT i, printf('%032x', i) AS id, ${FOLDER_SQL} AS folder FROM n)
      INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at)
      SELECT id, 'storage/big/' || folder || '/' || id || '_f.bin', 'big', folder, 'f.bin', i % 1000, 'x', 'e', strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + i, 'unixepoch') FROM g`);
    db.exec('ANALYZE');
  }, 60_000);
  afterAll(async () => {
    db?.close();
    await store?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('sub-folders of the root and of a folder from the covering index, within bounds; a clash check probes one index', async () => {
    const root = await timed(() => store.folders.subfolders('big', ''));
    expect(root.value.map((f) => f.name)).toEqual(['docs', 'misc', 'small']);
    expect(root.value.reduce((n, f) => n + f.fileCount, 0)).toBe(N);
    const docs = await timed(() => store.folders.subfolders('big', 'docs'));
    expect(docs.value.map((f) => f.path)).toEqual(['docs/y0', 'docs/y1', 'docs/y2', 'docs/y3', 'docs/y4']);
    console.log(`SQLite, 100k files: root ${root.ms.toFixed(1)} ms, docs ${docs.ms.toFixed(1)} ms`);
    expect(root.ms).toBeLessThan(BOUND_MS);
    expect(docs.ms).toBeLessThan(BOUND_MS / 4);
    const plan = (sql: string, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan("SELECT folder, COUNT(*), SUM(size) FROM files INDEXED BY files_user_folder_size WHERE user_id = 'big' AND folder > 'docs/' AND folder < 'docs0' GROUP BY folder")).toMatch(/COVERING INDEX files_user_folder_size/);
    expect(plan("SELECT * FROM files WHERE user_id = 'big' AND folder = 'docs' AND filename = 'f.bin'")).toMatch(/INDEX files_user_name/);
  });
});
