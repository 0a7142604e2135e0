/**
 * listFiles in every order (date, name, size; asc and desc) and with a name filter: keyset
 * pages across ties (one size, one created_at, one name in several folders) come out exactly
 * as one big page does, in the order the contract names; a needle's % and _ are plain
 * characters; the totals count only the matches. Part of metadataConformance.
 */
import { describe, expect, it } from 'vitest';
import type { FileRecord, ListOrder, ListQuery, ListSort, MetadataStore } from '../../src/db/types.js';
import { fileOf, tick } from './fixtures.js';

const quota = { userId: 'lu', defaultQuotaBytes: 1e12 };

function named(folder: string, filename: string, size: number, createdAt = tick()): FileRecord {
  const f = fileOf('lu', folder, size, createdAt);
  return { ...f, filename, key: ['storage', 'lu', ...(folder ? [folder] : []), `${f.id}_${filename}`].join('/') };
}

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
/** The contract's orders, written out: ASCII case folded names (nothing else folded), ties by id. */
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const sortValue = (f: FileRecord, sort: ListSort) => (sort === 'date' ? f.createdAt : sort === 'name' ? asciiLower(f.filename) : f.size);
function expected(files: FileRecord[], sort: ListSort, order: ListOrder): string[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...files].sort((a, b) => sign * (cmp(sortValue(a, sort), sortValue(b, sort)) || cmp(a.id, b.id))).map((f) => f.filename + '@' + f.folder);
}

const position = (f: FileRecord, sort: ListSort): NonNullable<ListQuery['after']> =>
  sort === 'date' ? { createdAt: f.createdAt, id: f.id } : sort === 'name' ? { filename: f.filename, id: f.id } : { size: f.size, id: f.id };

/** Every page of a listing of `limit` rows, following the last row's position. */
async function walk(store: MetadataStore, q: Omit<ListQuery, 'after'>): Promise<{ rows: string[]; pages: number }> {
  const rows: string[] = [];
  let after: ListQuery['after'];
  for (let pages = 1; ; pages++) {
    const page = await store.files.listFiles('lu', { ...q, after });
    rows.push(...page.files.map((f) => f.filename + '@' + f.folder));
    if (!page.hasMore) return { rows, pages };
    after = position(page.files[page.files.length - 1]!, q.sort ?? 'date');
  }
}

export function listingConformance(store: () => MetadataStore): void {
  describe('listing orders and name filter', () => {
    it('every sort and order pages by keyset across ties exactly as one page does (one folder, and a folder with subfolders)', async () => {
      const s = store();
      const at = tick();
      const files = [
        named('docs', 'b.txt', 10, at), named('docs', 'B.txt', 10, at), named('docs', 'a.txt', 30), named('docs', 'A.TXT', 10),
        named('docs', 'c.txt', 20, at), named('docs', 'Z.txt', 30), named('docs/sub', 'a.txt', 10, at), named('docs/sub', 'b.txt', 20),
        named('docs/sub/deep', 'a.txt', 10), named('docs-old', 'a.txt', 10), named('', 'a.txt', 5),
      ];
      for (const f of files) await s.files.insertFile(f, quota);
      for (const [folder, recursive] of [['docs', false], ['docs', true]] as const) {
        const matching = files.filter((f) => f.folder === folder || (recursive && f.folder.startsWith(folder + '/')));
        for (const sort of ['date', 'name', 'size'] as const) {
          for (const order of ['asc', 'desc'] as const) {
            const label = `${folder} recursive=${recursive} ${sort} ${order}`;
            const all = await s.files.listFiles('lu', { folder, recursive, limit: 100, sort, order });
            expect(all.files.map((f) => f.filename + '@' + f.folder), label).toEqual(expected(matching, sort, order));
            expect(all, label).toMatchObject({ totalCount: matching.length, totalSize: matching.reduce((n, f) => n + f.size, 0), hasMore: false });
            const paged = await walk(s, { folder, recursive, limit: 2, sort, order });
            expect(paged.rows, label).toEqual(expected(matching, sort, order));
            expect(paged.pages, label).toBe(Math.ceil(matching.length / 2));
          }
        }
      }
      // No folder: every file of the user; and the defaults (no sort, no order) stay newest first.
      expect((await walk(s, { recursive: true, limit: 3, sort: 'name', order: 'asc' })).rows).toEqual(expected(files, 'name', 'asc'));
      expect((await walk(s, { recursive: true, limit: 3, sort: 'size', order: 'desc' })).rows).toEqual(expected(files, 'size', 'desc'));
      expect((await walk(s, { recursive: true, limit: 3 })).rows).toEqual(expected(files, 'date', 'desc'));
    });

    it('a name filter: a substring in any ASCII case, % and _ plain characters, totals over the matches only, paged in any order', async () => {
      const s = store();
      const files = [
        named('f', 'a%b.txt', 1), named('f', 'A_B.txt', 2), named('f', 'axb.txt', 4), named('f', '100%.TXT', 8), named('f', 'a\\b.txt', 16),
        named('f', 'Été.txt', 32), named('f', 'été.txt', 64), named('f/sub', 'deep%.txt', 128), named('g', 'x%y', 256),
      ];
      for (const f of files) await s.files.insertFile(f, quota);
      const names = async (q: Omit<ListQuery, 'limit' | 'recursive'> & { recursive?: boolean }) => {
        const page = await s.files.listFiles('lu', { recursive: false, limit: 100, sort: 'name', order: 'asc', ...q });
        return { names: page.files.map((f) => f.filename), totalCount: page.totalCount, totalSize: page.totalSize };
      };
      expect(await names({ folder: 'f', nameContains: '%' })).toEqual({ names: ['100%.TXT', 'a%b.txt'], totalCount: 2, totalSize: 9 });
      expect(await names({ folder: 'f', nameContains: '_' })).toEqual({ names: ['A_B.txt'], totalCount: 1, totalSize: 2 });
      expect(await names({ folder: 'f', nameContains: 'A%B' })).toEqual({ names: ['a%b.txt'], totalCount: 1, totalSize: 1 });
      expect(await names({ folder: 'f', nameContains: '\\' })).toEqual({ names: ['a\\b.txt'], totalCount: 1, totalSize: 16 });
      expect(await names({ folder: 'f', nameContains: '.txt', sort: 'size', order: 'desc' })).toMatchObject({ names: ['été.txt', 'Été.txt', 'a\\b.txt', '100%.TXT', 'axb.txt', 'A_B.txt', 'a%b.txt'], totalCount: 7 });
      // Only ASCII letters fold, on every engine alike (no locale decides).
      expect(await names({ folder: 'f', nameContains: 'été' })).toEqual({ names: ['été.txt'], totalCount: 1, totalSize: 64 });
      expect(await names({ folder: 'f', nameContains: 'ÉTÉ' })).toEqual({ names: [], totalCount: 0, totalSize: 0 });
      expect(await names({ folder: 'f', nameContains: '%', recursive: true })).toMatchObject({ names: ['100%.TXT', 'a%b.txt', 'deep%.txt'], totalCount: 3, totalSize: 137 });
      expect(await names({ nameContains: '%', recursive: true })).toMatchObject({ totalCount: 4, totalSize: 393 });
      const paged = await walk(s, { folder: 'f', recursive: true, limit: 2, sort: 'date', order: 'desc', nameContains: 'T' });
      expect(paged.rows).toEqual(expected(files.filter((f) => f.folder.startsWith('f') && /t/i.test(f.filename)), 'date', 'desc'));
    });
  });
}
