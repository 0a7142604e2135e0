/**
 * PostgreSQL lists in SQLite's order whatever the database's locale. SQLite compares text
 * byte by byte; a PostgreSQL database created with a linguistic collation (ICU en-US here,
 * a common default) would order "B" after "a" and "_x" before "-x", and keyset pages and
 * folder ranges would then disagree with SQLite's. The schema pins COLLATE "C" on the
 * columns that order and page; this suite fills a SQLite store and a PostgreSQL store on an
 * en-US database with the same rows and walks every paged listing on both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { FileRecord, ListQuery, MetadataStore, UploadRecord } from '../../src/db/types.js';
import { describePostgres, postgresUrl } from '../helpers/postgres.js';
import { uploadOf } from './fixtures.js';

const quota = (userId: string) => ({ userId, defaultQuotaBytes: 1e12 });
const AT = '2025-03-01T00:00:00.000Z';
// Names whose byte order and en-US order differ: case, '_' and '-', accents, digits after '/'.
const NAMES = ['B', 'a', '_x', '-x', 'Zeta', 'zeta', 'é', 'e', 'a0', 'A_', 'a-b'];
const FOLDERS = ['', 'main', 'Main', 'main/B', 'main/a', 'main/_x', 'main-old', 'main0', 'mainly', 'é', 'é/sub'];

function fileAt(folder: string, id: string, createdAt: string, userId = 'o1'): FileRecord {
  return { id, key: ['storage', userId, ...(folder ? [folder] : []), `${id}_f.bin`].join('/'), userId, folder, filename: 'f.bin', size: id.length, mime: 'application/octet-stream', sha256: 'e'.repeat(64), createdAt };
}

/** Every page of a keyset walk, concatenated. */
async function walk<T, K>(page: (after: K | undefined) => Promise<{ rows: T[]; more: boolean }>, keyOf: (last: T) => K): Promise<T[]> {
  const all: T[] = [];
  let after: K | undefined;
  for (;;) {
    const { rows, more } = await page(after);
    all.push(...rows);
    if (!more || rows.length === 0) return all;
    after = keyOf(rows[rows.length - 1]!);
  }
}

const listing = (s: MetadataStore, q: Omit<ListQuery, 'limit' | 'after'>) =>
  walk(
    async (after: ListQuery['after']) => {
      const p = await s.files.listFiles('o1', { ...q, limit: 3, after });
      return { rows: p.files.map((f) => [f.id, f.folder, p.totalCount, p.totalSize].join('|')), more: p.hasMore };
    },
    (row) => {
      const [id] = row.split('|');
      return { createdAt: AT, id: id! };
    },
  );

describePostgres('PostgreSQL on an en-US database: listings and keyset pages in SQLite\'s byte order', () => {
  let sqlite: MetadataStore;
  let postgres: MetadataStore;
  let dir: string;
  let dbName: string;
  const admin = () => new pg.Client({ connectionString: postgresUrl() });

  beforeAll(async () => {
    dbName = `sl_order_${randomBytes(5).toString('hex')}`;
    const c = admin();
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${dbName} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`);
    } finally {
      await c.end();
    }
    const url = new URL(postgresUrl());
    url.pathname = `/${dbName}`;
    postgres = await openMetadataStore({ databaseUrl: url.toString(), databasePoolMax: 4 });
    dir = mkdtempSync(path.join(tmpdir(), 'sl-order-'));
    sqlite = await openMetadataStore({ databaseUrl: `sqlite:${path.join(dir, 'm.sqlite')}` });

    // Every file at one instant, so order and pages rest on the ids alone.
    const files = FOLDERS.flatMap((folder, i) => NAMES.map((n) => fileAt(folder, `${n}${i}`, AT)));
    const uploads: UploadRecord[] = NAMES.map((n, i) => uploadOf('o2', 1, { id: `u${n}`, updatedAt: 1000 + (i % 3) }));
    for (const s of [sqlite, postgres]) {
      for (const f of files) await s.files.insertFile(f, quota('o1'));
      await s.uploads.createUploads(uploads, quota('o2'));
      for (const u of uploads.slice(0, 6)) await s.uploads.beginAssembly(u.id, `storage/o2/${u.id}`, 1000, 2000);
    }
  });

  afterAll(async () => {
    await postgres?.close();
    await sqlite?.close();
    rmSync(dir, { recursive: true, force: true });
    const c = admin();
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });

  it('the database really orders linguistically (else this suite proves nothing)', async () => {
    const url = new URL(postgresUrl());
    url.pathname = `/${dbName}`;
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    try {
      const { rows } = await db.query<{ x: string }>(`SELECT x FROM unnest($1::text[]) x ORDER BY x`, [['B', 'a']]);
      expect(rows.map((r) => r.x)).toEqual(['a', 'B']);
    } finally {
      await db.end();
    }
  });

  it('listFiles pages (all, a folder with subfolders, one folder) come in the same order with the same totals', async () => {
    for (const q of [{ recursive: true }, { folder: 'main', recursive: true }, { folder: 'Main', recursive: true }, { folder: 'main', recursive: false }, { folder: 'é', recursive: true }]) {
      const want = await listing(sqlite, q);
      expect(want.length, JSON.stringify(q)).toBeGreaterThan(0);
      expect(await listing(postgres, q), JSON.stringify(q)).toEqual(want);
    }
  });

  it('longKeys, staleUploads and expiredAssemblies page in the same order', async () => {
    const keys = (s: MetadataStore) =>
      walk(async (after: string | undefined) => {
        const rows = await s.files.longKeys(0, after ?? null, 7);
        return { rows, more: rows.length > 0 };
      }, (k) => k);
    const wantKeys = await keys(sqlite);
    expect(wantKeys).toHaveLength(FOLDERS.length * NAMES.length);
    expect(await keys(postgres)).toEqual(wantKeys);

    const stale = (s: MetadataStore) =>
      walk(async (after: { updatedAt: number; id: string } | undefined) => {
        const rows = await s.uploads.staleUploads(5000, 2, after);
        return { rows, more: rows.length > 0 };
      }, (u) => ({ updatedAt: u.updatedAt, id: u.id }));
    const wantStale = (await stale(sqlite)).map((u) => u.id);
    expect(wantStale).toHaveLength(NAMES.length - 6);
    expect((await stale(postgres)).map((u) => u.id)).toEqual(wantStale);

    const lapsed = (s: MetadataStore) =>
      walk(async (after: string | undefined) => {
        const rows = await s.uploads.expiredAssemblies(2000, 2, after);
        return { rows, more: rows.length > 0 };
      }, (u) => u.id);
    const wantLapsed = (await lapsed(sqlite)).map((u) => u.id);
    expect(wantLapsed).toHaveLength(6);
    expect((await lapsed(postgres)).map((u) => u.id)).toEqual(wantLapsed);
  });

  it('a folder named outside the BMP lists its subfolders (prefix by characters, not UTF-16 units)', async () => {
    const at = '2025-03-02T00:00:00.000Z';
    await postgres.files.insertFile(fileAt('😀', 'emoji1', at, 'o3'), quota('o3'));
    await postgres.files.insertFile(fileAt('😀/sub', 'emoji2', at, 'o3'), quota('o3'));
    const page = await postgres.files.listFiles('o3', { folder: '😀', recursive: true, limit: 10 });
    expect(page.files.map((f) => f.folder)).toEqual(['😀/sub', '😀']);
    expect(page.totalCount).toBe(2);
  });
});
