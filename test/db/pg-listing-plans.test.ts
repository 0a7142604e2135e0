/**
 * listFiles on PostgreSQL at 100,000 files for one user: every page is read through an index
 * that starts with the user, in the order asked (no sort of the user's files, no sequential
 * scan; a folder by name or size either way too), a keyset page deep in the listing reads about one page of rows, the totals come from
 * the ledger or an index-only scan, and the statements are planned for their own values (a
 * prepared statement's generic plan, taken after five runs, sorts a 10k-file folder instead of
 * walking the newest-first index).
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import { listPageQuery, listTotalsQuery, type SqlQuery } from '../../src/db/pg/files.js';
import { subfoldersQuery } from '../../src/db/pg/folders.js';
import type { PgMetadataStore } from '../../src/db/pg/store.js';
import type { ListQuery } from '../../src/db/types.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
}

const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
const describeNode = (n: PlanNode) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`;

// 10% of the user's files under docs (a third in docs itself), 1% under small/…, 10 in rare.
const FOLDER = `CASE WHEN i % 10 = 0 THEN 'docs' || CASE WHEN i % 3 = 0 THEN '' ELSE '/y' || (i % 5) END
  WHEN i % 100 = 1 THEN 'small/' || (i % 4) WHEN i % 10000 = 2 THEN 'rare' ELSE 'misc/' || (i % 50) END`;

describePostgres('PostgreSQL listFiles at 100,000 files for one user: index plans, planned per call', () => {
  let store: PgMetadataStore;
  let db: pg.Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const schema = await freshSchema('plans');
    drop = schema.drop;
    // One connection: the prepared statements the store leaves are all on it.
    store = (await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 1 })) as PgMetadataStore;
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    await db.query(`INSERT INTO files (id, key, user_id, folder, filename, size, mime, sha256, created_at)
      SELECT md5(i::text), 'storage/' || usr || '/' || folder || '/' || md5(i::text) || '_f.bin', usr, folder, 'f' || (i % 1000) || '.bin', i % 1000,
             'application/octet-stream', repeat('e', 64), to_char(timestamp '2025-01-01' + (i / 3) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      FROM (SELECT i, CASE WHEN i <= 100000 THEN 'big' ELSE 'other' || (i % 20) END AS usr, ${FOLDER} AS folder FROM generate_series(1, 120000) i) g`);
    await db.query('INSERT INTO user_usage (user_id, file_count, used_bytes) SELECT user_id, count(*), sum(size) FROM files GROUP BY user_id');
    // What autovacuum does on a live table: statistics, and the visibility map index-only scans need.
    await db.query('VACUUM ANALYZE files, user_usage');
  });

  afterAll(async () => {
    await db?.end();
    await store?.close();
    await drop?.();
  });

  async function plan(q: SqlQuery): Promise<PlanNode[]> {
    const { rows } = await db.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`, q.values);
    return nodes(rows[0]!['QUERY PLAN'][0]!.Plan);
  }

  it('pages walk an index in the order asked; deep keyset pages read one page of rows; no sequential scan of files', async () => {
    const { rows } = await db.query<{ created_at: string; id: string }>(`SELECT created_at, id FROM files WHERE user_id = 'big' ORDER BY created_at DESC, id DESC OFFSET 50000 LIMIT 1`);
    const deep = { createdAt: rows[0]!.created_at, id: rows[0]!.id };
    const cases: [string, ListQuery, string][] = [
      ['all, first page', { recursive: true, limit: 100 }, 'files_user_recent'],
      ['all, page at 50,000', { recursive: true, limit: 100, after: deep }, 'files_user_recent'],
      ['one folder', { folder: 'docs', recursive: false, limit: 100 }, 'files_user_folder'],
      ['one folder, page at 1,000', { folder: 'misc/7', recursive: false, limit: 100, after: deep }, 'files_user_folder'],
      ['a folder with subfolders holding 10% of the files', { folder: 'docs', recursive: true, limit: 100 }, 'files_user_recent'],
    ];
    for (const [name, q, index] of cases) {
      const page = await plan(listPageQuery('big', q));
      const scans = page.filter((n) => /Scan/.test(n['Node Type']));
      expect(scans.map(describeNode), name).toEqual([`Index Scan ${index} on files`]);
      expect(page.map((n) => n['Node Type']), name).not.toContain('Sort');
      expect(scans[0]!['Actual Rows'], name).toBeLessThanOrEqual(q.limit + 1);
    }
    // A folder of 10 files: its few rows through the folder index, then sorted (10 rows).
    const rare = await plan(listPageQuery('big', { folder: 'rare', recursive: true, limit: 100 }));
    const rareIndexes = rare.filter((n) => n['Index Name']).map((n) => n['Index Name']);
    expect(rareIndexes.length).toBeGreaterThan(0);
    expect(rareIndexes.every((name) => name === 'files_user_folder_size' || name === 'files_user_folder'), rareIndexes.join()).toBe(true);
    expect(rare.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(Math.max(...rare.map((n) => n['Actual Rows'] ?? 0))).toBe(10);
  });

  it('one folder by name or size, either way, first page and deep: its own index in that order, no sort; a name filter counts only matches', async () => {
    const index = { name: 'files_user_folder_lname', size: 'files_user_folder_size_id' };
    for (const sort of ['name', 'size'] as const) {
      for (const order of ['asc', 'desc'] as const) {
        const q: ListQuery = { folder: 'misc/7', recursive: false, limit: 100, sort, order };
        const probe = listPageQuery('big', { ...q, limit: 1000 });
        const { rows } = await db.query<{ filename: string; size: number; id: string }>(`SELECT * FROM (${probe.text}) p OFFSET 999 LIMIT 1`, probe.values);
        const row = rows[0]!;
        const deep: ListQuery = { ...q, after: sort === 'name' ? { filename: row.filename, id: row.id } : { size: Number(row.size), id: row.id } };
        for (const [label, query] of [['first', q], ['deep', deep]] as const) {
          const page = await plan(listPageQuery('big', query));
          const name = `${sort} ${order} ${label}`;
          expect(page.filter((n) => /Scan/.test(n['Node Type'])).map(describeNode), name).toEqual([`Index Scan ${index[sort]} on files`]);
          expect(page.map((n) => n['Node Type']), name).not.toContain('Sort');
        }
      }
    }
    // Names f0.bin … f999.bin; in docs (i % 10 = 0) those ending in 20.bin match "20.B".
    const filtered = await store.files.listFiles('big', { folder: 'docs', recursive: false, limit: 10, sort: 'name', nameContains: '20.B' });
    const { rows: [docs] } = await db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM files WHERE user_id = 'big' AND folder = 'docs' AND filename ILIKE '%20.b%'");
    expect(filtered).toMatchObject({ totalCount: docs!.n, hasMore: true });
    expect(docs!.n).toBeGreaterThan(100);
    expect(filtered.files.every((f) => f.filename.endsWith('20.bin'))).toBe(true);
    expect((await store.files.listFiles('big', { folder: 'docs', recursive: false, limit: 100, nameContains: 'f_bin' })).totalCount).toBe(0);
  });

  it('totals: the ledger row for everything, the folder index (with sizes) for a folder', async () => {
    const all = await plan(listTotalsQuery('big', { recursive: true, limit: 100 }));
    expect(all.map(describeNode).join(' > ')).toMatch(/ on user_usage$/);
    for (const q of [{ folder: 'docs', recursive: false, limit: 100 }, { folder: 'docs', recursive: true, limit: 100 }]) {
      const used = await plan(listTotalsQuery('big', q));
      // Index-only once the visibility map is set; a snapshot held elsewhere (tests running
      // beside this one) can keep VACUUM from setting it, and the planner then reads the
      // heap pages the same index names.
      expect(used.filter((n) => n['Index Name']).map((n) => n['Index Name']), JSON.stringify(q)).toSatisfy((names: string[]) => names.length > 0 && names.every((x) => x === 'files_user_folder_size'));
      expect(used.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    }
    const page = await store.files.listFiles('big', { folder: 'docs', recursive: true, limit: 100 });
    expect(page).toMatchObject({ totalCount: 10_000, hasMore: true });
    expect(page.files).toHaveLength(100);
  });

  it('folder totals (GET /v1/files/folders) read a range of the folder index with sizes; a move\'s clash check probes (folder, filename)', async () => {
    // Folders holding 10% and 1% of the user's files (misc, with 89%, is rightly read from the table).
    for (const parent of ['docs', 'small']) {
      const used = await plan(subfoldersQuery('big', parent));
      // Index-only once the visibility map is set (see the totals above for why it may not be).
      expect(used.filter((n) => n['Index Name']).map((n) => n['Index Name']), parent).toSatisfy((names: string[]) => names.length > 0 && names.every((x) => x === 'files_user_folder_size'));
      expect(used.map((n) => n['Node Type']), parent).not.toContain('Seq Scan');
    }
    const t = performance.now();
    const misc = await store.folders.subfolders('big', 'misc');
    const ms = performance.now() - t;
    const { rows } = await db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM files WHERE user_id = 'big' AND folder LIKE 'misc/%'");
    expect(misc).toHaveLength(45); // misc/0…49 but the multiples of 10 (those i went to docs)
    expect(misc.reduce((n, f) => n + f.fileCount, 0)).toBe(rows[0]!.n);
    expect(ms, `sub-folders of a folder of 89,000 files: ${ms.toFixed(1)} ms`).toBeLessThan(1000);
    const probe = await plan({ text: 'SELECT * FROM files WHERE user_id = $1 AND folder = $2 AND filename = $3', values: ['big', 'docs', 'report.pdf'] }); // every file here is f<n>.bin: probe a name that is not
    expect(probe.filter((n) => n['Index Name']).map((n) => n['Index Name'])).toEqual(['files_user_name']);
  });

  it('a listing is planned for its values on every call: no generic plan, even after many calls on one connection', async () => {
    for (let i = 0; i < 12; i++) {
      for (const folder of ['docs', 'rare']) await store.files.listFiles('big', { folder, recursive: true, limit: 100 });
    }
    const { rows } = await store.pg.query<{ statement: string; generic_plans: number }>('SELECT statement, generic_plans FROM pg_prepared_statements');
    const listings = rows.filter((r) => /FROM files WHERE user_id/.test(r.statement));
    expect(listings.filter((r) => r.generic_plans > 0)).toEqual([]);
  });
});
