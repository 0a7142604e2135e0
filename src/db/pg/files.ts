/**
 * File records on PostgreSQL. Listing is keyset-paginated on (sort key, id), newest first by
 * default or by name or size either way (db/listing.ts), over indexes that start with user_id, so a page costs the same at 100 or 100,000 files; the
 * columns compare in "C" order (migrations.ts), so pages come in SQLite's order. Quota checks
 * lock the user's ledger row (quota.ts) in the transaction that inserts.
 */
import type pg from 'pg';
import type { FileRecord, FileStore, ListPage, ListQuery, OutboxEvent, QuotaCheck, Usage } from '../types.js';
import type { PgClient, Queryable } from './client.js';
import { assertFits } from '../quota-rules.js';
import { changeUsage, lockUsage } from './quota.js';
import { insertEvent } from './outbox.js';
import { type FileRow, toFile } from '../rows.js';
import { listOrdering, nameNeedle, type Fold } from '../listing.js';

/** Ids per look-up query (one array parameter): a bounded statement, whatever the caller asks. */
const LOOKUP_CHUNK = 500;
const UNIQUE_VIOLATION = '23505';

const COLUMNS = 'id, key, user_id, folder, filename, size, mime, sha256, created_at';

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/**
 * The folder condition of a listing, from `$first` on. Recursive: the folder itself, or a
 * folder in [folder + '/', folder + '0') — exactly those under it, as '0' follows '/' in byte
 * order (COLLATE "C"). Two plain index ranges, so the planner estimates them well and the
 * totals read only the index (a starts_with() filter was misjudged: a 10k-file folder's page
 * took 26 ms instead of ~11).
 */
function folderCondition(query: ListQuery, first: number): SqlQuery {
  if (query.folder === undefined) return { text: '', values: [] };
  if (!query.recursive) return { text: ` AND folder = $${first}`, values: [query.folder] };
  const [f, lo, hi] = [first, first + 1, first + 2].map((n) => `$${n}`);
  return {
    text: ` AND (folder = ${f} OR (folder >= ${lo} AND folder < ${hi}))`,
    values: [query.folder, query.folder + '/', query.folder + '0'],
  };
}

/**
 * ASCII letters folded and nothing else, as SQLite's lower() does (db/listing.ts): PostgreSQL's
 * lower() folds non-ASCII letters too. files_user_folder_lname is built on this expression.
 */
export const fold: Fold = (sql) => `translate(${sql}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`;

/**
 * A name filter from `$n`: a substring of the filename, ASCII case folded on both sides.
 * strpos, not LIKE: a needle's % and _ are plain characters, nothing to escape.
 */
function nameFilter(query: ListQuery, n: number): SqlQuery {
  const needle = nameNeedle(query);
  if (needle === undefined) return { text: '', values: [] };
  return { text: ` AND strpos(${fold('filename')}, ${fold(`$${n}::text`)}) > 0`, values: [needle] };
}

/** One page of a listing (limit + 1 rows: the extra one says whether there is more). */
export function listPageQuery(userId: string, query: ListQuery): SqlQuery {
  const o = listOrdering(query, fold);
  const values: unknown[] = [userId, query.limit + 1];
  const folder = folderCondition(query, 3);
  values.push(...folder.values);
  const filter = nameFilter(query, values.length + 1);
  values.push(...filter.values);
  let after = '';
  if (o.after) {
    // A row comparison: the index on (user_id, [folder,] key, id) resumes right there, either way.
    const v = o.sort === 'name' ? fold(`$${values.length + 1}::text`) : `$${values.length + 1}`;
    after = ` AND (${o.key}, id) ${o.cmp} (${v}, $${values.length + 2})`;
    values.push(o.after.value, o.after.id);
  }
  return {
    text: `SELECT ${COLUMNS} FROM files WHERE user_id = $1${folder.text}${filter.text}${after} ORDER BY ${o.key} ${o.dir}, id ${o.dir} LIMIT $2`,
    values,
  };
}

/** Count and bytes of the files a listing matches (the user's whole ledger when no folder and no filter). */
export function listTotalsQuery(userId: string, query: ListQuery): SqlQuery {
  const filter = nameFilter(query, 2);
  if (query.folder === undefined && !filter.text) {
    return { text: 'SELECT file_count AS n, used_bytes AS bytes FROM user_usage WHERE user_id = $1', values: [userId] };
  }
  const folder = folderCondition(query, 2 + filter.values.length);
  return {
    text: `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files WHERE user_id = $1${filter.text}${folder.text}`,
    values: [userId, ...filter.values, ...folder.values],
  };
}

/** A duplicate key or id is a caller's bug (keys carry a fresh random id): a plain Error, no driver code. */
function duplicateOr(err: unknown, file: FileRecord): unknown {
  if ((err as { code?: string })?.code !== UNIQUE_VIOLATION) return err;
  return new Error(`a file record with id ${file.id} or key ${file.key} already exists`);
}

/**
 * The file row alone, inside a caller's transaction, which also counts it in the ledger
 * (finishAssembly does that in the same UPDATE that releases the upload's reservation).
 */
export async function insertFileRow(c: Queryable, file: FileRecord): Promise<void> {
  try {
    await c.query(`INSERT INTO files (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
      file.id, file.key, file.userId, file.folder, file.filename, file.size, file.mime, file.sha256, file.createdAt,
    ]);
  } catch (err) {
    throw duplicateOr(err, file);
  }
}

export class PgFileStore implements FileStore {
  constructor(private readonly db: PgClient) {}

  async getFile(key: string): Promise<FileRecord | null> {
    const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE key = $1`, [key]);
    return rows[0] ? toFile(rows[0]) : null;
  }

  async getFileById(id: string): Promise<FileRecord | null> {
    const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE id = $1`, [id]);
    return rows[0] ? toFile(rows[0]) : null;
  }

  async findFilesByIds(ids: string[]): Promise<FileRecord[]> {
    const unique = [...new Set(ids)];
    const found: FileRecord[] = [];
    for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
      const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE id = ANY($1::text[])`, [unique.slice(i, i + LOOKUP_CHUNK)]);
      for (const row of rows) found.push(toFile(row));
    }
    return found;
  }

  async longKeys(minBytes: number, after: string | null, limit: number): Promise<string[]> {
    // Bytes, not characters: a key lives under a digest when a segment passes NAME_MAX bytes.
    const { rows } = await this.db.query<{ key: string }>(
      'SELECT key FROM files WHERE key > $1 AND octet_length(key) >= $2 ORDER BY key LIMIT $3',
      [after ?? '', minBytes, limit],
    );
    return rows.map((r) => r.key);
  }

  async insertFile(file: FileRecord, quota: QuotaCheck, event?: OutboxEvent): Promise<void> {
    await this.db.tx(async (c) => {
      assertFits(await lockUsage(c, quota), quota, { bytes: file.size, files: 1, uploads: 0 });
      await insertFileRow(c, file);
      await changeUsage(c, file.userId, { files: 1, used: file.size });
      await insertEvent(c, event);
    });
  }

  async deleteFile(key: string, event?: OutboxEvent): Promise<FileRecord | null> {
    return this.db.tx(async (c) => {
      // The DELETE is the condition: of two instances deleting one key, one gets the row.
      const { rows } = await c.query<FileRow>(`DELETE FROM files WHERE key = $1 RETURNING ${COLUMNS}`, [key]);
      const row = rows[0];
      if (!row) return null;
      await changeUsage(c, row.user_id, { files: -1, used: -row.size });
      await insertEvent(c, event);
      return toFile(row);
    });
  }

  async usage(userId: string): Promise<Usage> {
    const { rows } = await this.db.query<{ file_count: number; used_bytes: number; reserved_bytes: number; open_uploads: number }>(
      'SELECT file_count, used_bytes, reserved_bytes, open_uploads FROM user_usage WHERE user_id = $1',
      [userId],
    );
    const row = rows[0];
    return { usedBytes: row?.used_bytes ?? 0, reservedBytes: row?.reserved_bytes ?? 0, fileCount: row?.file_count ?? 0, openUploads: row?.open_uploads ?? 0 };
  }

  async listFiles(userId: string, query: ListQuery): Promise<ListPage> {
    const page = listPageQuery(userId, query);
    const totals = listTotalsQuery(userId, query);
    // Two pooled connections at once: the page and the totals do not wait for each other.
    const [rows, [sums]] = await Promise.all([this.plannedForItsValues<FileRow>(page), this.plannedForItsValues<{ n: number; bytes: number }>(totals)]);
    return {
      files: rows.slice(0, query.limit).map(toFile),
      totalCount: sums?.n ?? 0,
      totalSize: sums?.bytes ?? 0,
      hasMore: rows.length > query.limit,
    };
  }

  /** A listing's statements depend on how many files the folder holds: PgClient.queryPlanned. */
  private async plannedForItsValues<R extends object>(q: SqlQuery): Promise<R[]> {
    return (await this.db.queryPlanned<R & pg.QueryResultRow>(q.text, q.values)).rows;
  }
}
