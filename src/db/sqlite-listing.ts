/**
 * The statements of a SQLite listing page, apart from the store so that tests can read their
 * query plans (test/db/sqlite-listing-plans.test.ts). Orders come from db/listing.ts.
 */
import { listOrdering, nameNeedle, type Fold } from './listing.js';
import type { ListQuery } from './types.js';

export interface SqliteStatement {
  sql: string;
  params: Record<string, unknown>;
}

/** SQLite's lower() folds ASCII letters and nothing else: the fold db/listing.ts asks for. */
const fold: Fold = (sql) => `lower(${sql})`;

/** A name filter: a substring of the filename, ASCII case folded on both sides. instr, not LIKE: a needle's % and _ are plain characters. */
const NAME_FILTER = `instr(${fold('filename')}, ${fold('@needle')}) > 0`;

/** The folder condition and its parameters (none when the listing is of every folder). */
function folderWhere(query: ListQuery): { where: string[]; params: Record<string, unknown> } {
  const f = query.folder;
  if (f === undefined) return { where: [], params: {} };
  if (!query.recursive) return { where: ['folder = @folder'], params: { folder: f } };
  // An index range [folder, folder + '0') then an exact filter: '0' follows '/' in ASCII,
  // and the filter drops siblings such as "main-old" that sort inside the range.
  return {
    where: ['folder >= @lo AND folder < @hi AND (folder = @folder OR substr(folder, 1, @prefixLen) = @prefix)'],
    params: { folder: f, lo: f, hi: f + '0', prefix: f + '/', prefixLen: [...f].length + 1 },
  };
}

/** One page (limit + 1 rows: the extra one says whether there is more); `index` an INDEXED BY clause or ''. */
export function listPageSql(userId: string, query: ListQuery, index = ''): SqliteStatement {
  const o = listOrdering(query, fold);
  const { where, params } = folderWhere(query);
  where.unshift('user_id = @userId');
  Object.assign(params, { userId, limit: query.limit + 1 });
  const needle = nameNeedle(query);
  if (needle !== undefined) {
    where.push(NAME_FILTER);
    params.needle = needle;
  }
  if (o.after) {
    const v = o.sort === 'name' ? fold('@afterV') : '@afterV';
    // A row value, which SQLite turns into one index range; the spelled-out OR became a
    // MULTI-INDEX OR and a sort of the folder for the expression key.
    where.push(`(${o.key}, id) ${o.cmp} (${v}, @afterId)`);
    Object.assign(params, { afterV: o.after.value, afterId: o.after.id });
  }
  return { sql: `SELECT * FROM files ${index} WHERE ${where.join(' AND ')} ORDER BY ${o.key} ${o.dir}, id ${o.dir} LIMIT @limit`, params };
}

/** Count and bytes of the files a filtered listing matches: no index holds names by substring, so the folder's rows are read. */
export function filteredTotalsSql(userId: string, query: ListQuery, needle: string): SqliteStatement {
  const { where, params } = folderWhere(query);
  return {
    sql: `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files WHERE user_id = @userId${where.map((w) => ` AND ${w}`).join('')} AND ${NAME_FILTER}`,
    params: { ...params, userId, needle },
  };
}
