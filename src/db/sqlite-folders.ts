/**
 * Folders and the file-move journal in SQLite (FolderStore, folder-types.ts). Pages of the
 * files under a folder are ranges of the unique key index (a key starts with its folder);
 * sub-folder totals read only files_user_folder_size; a filename in a folder is one probe of
 * files_user_name.
 */
import type Database from 'better-sqlite3';
import { groupSubfolders, keyRangeOf, subfolderRangeOf, type EventOf, type FolderStore, type FolderSummary, type MoveTarget, type PendingMove } from './folder-types.js';
import type { SqliteOutbox } from './sqlite-outbox.js';
import type { QuotaLedger } from './sqlite-quota.js';
import { type FileRow, type MoveRow, toFile, toMove } from './rows.js';
import type { FileRecord } from './types.js';


export class SqliteFolderStore implements FolderStore {
  private readonly q;

  constructor(
    private readonly db: Database.Database,
    private readonly ledger: QuotaLedger,
    private readonly outbox: SqliteOutbox,
  ) {
    this.q = {
      subfolders: db.prepare(
        `SELECT folder, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files INDEXED BY files_user_folder_size
         WHERE user_id = @userId AND folder > @lo AND (@hi IS NULL OR folder < @hi) GROUP BY folder`,
      ),
      named: db.prepare('SELECT * FROM files WHERE user_id = ? AND folder = ? AND filename = ?'),
      under: db.prepare('SELECT * FROM files WHERE key >= @lo AND key < @hi AND key > @after ORDER BY key LIMIT @limit'),
      journal: db.prepare(
        `INSERT INTO file_moves (file_id, user_id, from_key, to_key, created_at)
         SELECT id, user_id, @fromKey, @toKey, @createdAt FROM files WHERE id = @fileId AND key = @fromKey
         ON CONFLICT (file_id) DO NOTHING`,
      ),
      move: db.prepare('SELECT * FROM file_moves WHERE file_id = ?'),
      byId: db.prepare('SELECT * FROM files WHERE id = ?'),
      switch: db.prepare('UPDATE files SET key = @toKey, folder = @folder, filename = @filename WHERE id = @fileId AND key = @fromKey'),
      end: db.prepare('DELETE FROM file_moves WHERE file_id = ?'),
      pending: db.prepare('SELECT * FROM file_moves WHERE user_id = ? ORDER BY created_at, file_id LIMIT ?'),
      movesOf: db.prepare('SELECT * FROM file_moves WHERE file_id IN (SELECT value FROM json_each(?))'),
      deleteOne: db.prepare('DELETE FROM files WHERE key = ?'),
    };
  }

  async subfolders(userId: string, parent: string): Promise<FolderSummary[]> {
    const range = subfolderRangeOf(parent);
    // folder > lo: with lo = parent + '/' that also leaves out nothing (no folder equals "a/").
    const rows = this.q.subfolders.all({ userId, lo: range.lo, hi: range.hi }) as { folder: string; n: number; bytes: number }[];
    return groupSubfolders(parent, rows);
  }

  async filesNamed(userId: string, folder: string, filename: string): Promise<FileRecord[]> {
    return (this.q.named.all(userId, folder, filename) as FileRow[]).map(toFile);
  }

  async filesUnder(userId: string, folder: string, afterKey: string | null, limit: number): Promise<FileRecord[]> {
    const { lo, hi } = keyRangeOf(userId, folder);
    return (this.q.under.all({ lo, hi, after: afterKey ?? '', limit }) as FileRow[]).map(toFile);
  }

  async journalMove(move: PendingMove): Promise<'journaled' | 'busy' | 'gone'> {
    return this.db.transaction(() => {
      if (this.q.journal.run(move).changes === 1) return 'journaled' as const;
      const row = this.q.move.get(move.fileId) as MoveRow | undefined;
      if (!row) return 'gone' as const;
      return row.from_key === move.fromKey && row.to_key === move.toKey ? ('journaled' as const) : ('busy' as const);
    })();
  }

  async switchMove(fileId: string, fromKey: string, target: MoveTarget, event?: EventOf): Promise<{ outcome: 'switched' | 'already'; file: FileRecord } | { outcome: 'gone' }> {
    return this.db.transaction(() => {
      const changed = this.q.switch.run({ fileId, fromKey, ...target }).changes === 1;
      const row = this.q.byId.get(fileId) as FileRow | undefined;
      if (!row || row.key !== target.toKey) return { outcome: 'gone' as const };
      const file = toFile(row);
      if (changed) this.outbox.insertInTransaction(event?.(file));
      return { outcome: changed ? ('switched' as const) : ('already' as const), file };
    })();
  }

  async endMove(fileId: string): Promise<void> {
    this.q.end.run(fileId);
  }

  async pendingMoves(userId: string, limit: number): Promise<PendingMove[]> {
    return (this.q.pending.all(userId, limit) as MoveRow[]).map(toMove);
  }

  async movesOf(fileIds: string[]): Promise<PendingMove[]> {
    if (fileIds.length === 0) return [];
    return (this.q.movesOf.all(JSON.stringify(fileIds)) as MoveRow[]).map(toMove);
  }

  async deleteUnder(userId: string, folder: string, limit: number, event?: EventOf): Promise<FileRecord[]> {
    const { lo, hi } = keyRangeOf(userId, folder);
    return this.db.transaction(() => {
      const files = (this.q.under.all({ lo, hi, after: '', limit }) as FileRow[]).map(toFile);
      let bytes = 0;
      for (const file of files) {
        this.q.deleteOne.run(file.key);
        this.outbox.insertInTransaction(event?.(file));
        bytes += file.size;
      }
      if (files.length > 0) this.ledger.change(userId, { files: -files.length, used: -bytes });
      return files;
    })();
  }
}
