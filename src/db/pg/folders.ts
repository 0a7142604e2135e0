/**
 * Folders and the file-move journal on PostgreSQL (FolderStore, ../folder-types.ts), as in
 * SQLite: pages under a folder are ranges of the unique key index (COLLATE "C"), sub-folder
 * totals an index-only scan of files_user_folder_size, a filename in a folder one probe of
 * files_user_name. Every check-and-write is one conditional statement or transaction.
 */
import { groupSubfolders, keyRangeOf, subfolderRangeOf, type EventOf, type FolderStore, type FolderSummary, type MoveTarget, type PendingMove } from '../folder-types.js';
import { type FileRow, type MoveRow, toFile, toMove } from '../rows.js';
import type { FileRecord } from '../types.js';
import type { PgClient } from './client.js';
import { insertEvent } from './outbox.js';
import { changeUsage } from './quota.js';

const COLUMNS = 'id, key, user_id, folder, filename, size, mime, sha256, created_at';


/** The sub-folder totals of `parent`: one GROUP BY over the (user_id, folder, size) index. */
export function subfoldersQuery(userId: string, parent: string): { text: string; values: unknown[] } {
  const range = subfolderRangeOf(parent);
  const upper = range.hi === null ? '' : ' AND folder < $3';
  return {
    text: `SELECT folder, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files WHERE user_id = $1 AND folder > $2${upper} GROUP BY folder`,
    values: range.hi === null ? [userId, range.lo] : [userId, range.lo, range.hi],
  };
}

export class PgFolderStore implements FolderStore {
  constructor(private readonly db: PgClient) {}

  async subfolders(userId: string, parent: string): Promise<FolderSummary[]> {
    const q = subfoldersQuery(userId, parent);
    const { rows } = await this.db.queryPlanned<{ folder: string; n: number; bytes: number }>(q.text, q.values);
    return groupSubfolders(parent, rows);
  }

  async filesNamed(userId: string, folder: string, filename: string): Promise<FileRecord[]> {
    const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE user_id = $1 AND folder = $2 AND filename = $3`, [userId, folder, filename]);
    return rows.map(toFile);
  }

  async filesUnder(userId: string, folder: string, afterKey: string | null, limit: number): Promise<FileRecord[]> {
    const { lo, hi } = keyRangeOf(userId, folder);
    const { rows } = await this.db.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE key >= $1 AND key < $2 AND key > $3 ORDER BY key LIMIT $4`, [lo, hi, afterKey ?? '', limit]);
    return rows.map(toFile);
  }

  async journalMove(move: PendingMove): Promise<'journaled' | 'busy' | 'gone'> {
    return this.db.tx(async (c) => {
      const inserted = await c.query(
        `INSERT INTO file_moves (file_id, user_id, from_key, to_key, created_at)
         SELECT id, user_id, $2, $3, $4 FROM files WHERE id = $1 AND key = $2
         ON CONFLICT (file_id) DO NOTHING`,
        [move.fileId, move.fromKey, move.toKey, move.createdAt],
      );
      if (inserted.rowCount === 1) return 'journaled';
      const { rows } = await c.query<MoveRow>('SELECT * FROM file_moves WHERE file_id = $1', [move.fileId]);
      const row = rows[0];
      if (!row) return 'gone';
      return row.from_key === move.fromKey && row.to_key === move.toKey ? 'journaled' : 'busy';
    });
  }

  async switchMove(fileId: string, fromKey: string, target: MoveTarget, event?: EventOf): Promise<{ outcome: 'switched' | 'already'; file: FileRecord } | { outcome: 'gone' }> {
    return this.db.tx(async (c) => {
      const updated = await c.query<FileRow>(
        `UPDATE files SET key = $3, folder = $4, filename = $5 WHERE id = $1 AND key = $2 RETURNING ${COLUMNS}`,
        [fileId, fromKey, target.toKey, target.folder, target.filename],
      );
      if (updated.rows[0]) {
        const file = toFile(updated.rows[0]);
        await insertEvent(c, event?.(file));
        return { outcome: 'switched' as const, file };
      }
      const { rows } = await c.query<FileRow>(`SELECT ${COLUMNS} FROM files WHERE id = $1`, [fileId]);
      const row = rows[0];
      return row && row.key === target.toKey ? { outcome: 'already' as const, file: toFile(row) } : { outcome: 'gone' as const };
    });
  }

  async endMove(fileId: string): Promise<void> {
    await this.db.query('DELETE FROM file_moves WHERE file_id = $1', [fileId]);
  }

  async pendingMoves(userId: string, limit: number): Promise<PendingMove[]> {
    const { rows } = await this.db.query<MoveRow>('SELECT * FROM file_moves WHERE user_id = $1 ORDER BY created_at, file_id LIMIT $2', [userId, limit]);
    return rows.map(toMove);
  }

  async movesOf(fileIds: string[]): Promise<PendingMove[]> {
    if (fileIds.length === 0) return [];
    const { rows } = await this.db.query<MoveRow>('SELECT * FROM file_moves WHERE file_id = ANY($1::text[])', [fileIds]);
    return rows.map(toMove);
  }

  async deleteUnder(userId: string, folder: string, limit: number, event?: EventOf): Promise<FileRecord[]> {
    const { lo, hi } = keyRangeOf(userId, folder);
    return this.db.tx(async (c) => {
      // The DELETE is the condition: of two instances deleting one folder, each row goes to one.
      const { rows } = await c.query<FileRow>(
        `DELETE FROM files WHERE key IN (SELECT key FROM files WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3) RETURNING ${COLUMNS}`,
        [lo, hi, limit],
      );
      const bytes = rows.reduce((sum, r) => sum + Number(r.size), 0);
      if (rows.length > 0) await changeUsage(c, userId, { files: -rows.length, used: -bytes });
      // RETURNING has no order: the events (one queue per user and URL) follow the key order.
      const files = rows.map(toFile).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const file of files) await insertEvent(c, event?.(file));
      return files;
    });
  }
}
