/**
 * Upload sessions and their received parts in SQLite. An upload's declared size is reserved
 * against the quota while it is open or assembling, and released when it completes, is
 * aborted or expires: always in the same transaction as the state change.
 */
import type Database from 'better-sqlite3';
import { UploadNotFound, UploadNotOpen } from '../errors/index.js';
import type { SqliteFileStore } from './sqlite-files.js';
import type { QuotaLedger } from './sqlite-quota.js';
import type { FileRecord, PartRecord, QuotaCheck, UploadRecord, UploadState, UploadStore } from './types.js';

interface UploadRow {
  id: string;
  user_id: string;
  mode: string;
  filename: string;
  folder: string;
  size: number;
  mime: string;
  sha256: string | null;
  part_size: number;
  part_count: number;
  state: string;
  file_key: string | null;
  created_at: number;
  updated_at: number;
}

const toUpload = (r: UploadRow): UploadRecord => ({
  id: r.id,
  userId: r.user_id,
  mode: r.mode as UploadRecord['mode'],
  filename: r.filename,
  folder: r.folder,
  size: r.size,
  mime: r.mime,
  sha256: r.sha256,
  partSize: r.part_size,
  partCount: r.part_count,
  state: r.state as UploadState,
  fileKey: r.file_key,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const holdsReservation = (state: string) => state === 'open' || state === 'assembling';

export class SqliteUploadStore implements UploadStore {
  private readonly q;

  constructor(
    private readonly db: Database.Database,
    private readonly ledger: QuotaLedger,
    private readonly files: SqliteFileStore,
  ) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO uploads (id, user_id, mode, filename, folder, size, mime, sha256, part_size, part_count, state, file_key, created_at, updated_at)
         VALUES (@id, @userId, @mode, @filename, @folder, @size, @mime, @sha256, @partSize, @partCount, @state, @fileKey, @createdAt, @updatedAt)`,
      ),
      byId: db.prepare('SELECT * FROM uploads WHERE id = ?'),
      touch: db.prepare('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      putPart: db.prepare(
        `INSERT INTO upload_parts (upload_id, part_number, size, sha256) VALUES (@uploadId, @partNumber, @size, @sha256)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256`,
      ),
      parts: db.prepare('SELECT part_number, size, sha256 FROM upload_parts WHERE upload_id = ? ORDER BY part_number'),
      setState: db.prepare('UPDATE uploads SET state = @to, file_key = @fileKey, updated_at = @now WHERE id = @id AND state = @from'),
      deleteParts: db.prepare('DELETE FROM upload_parts WHERE upload_id = ?'),
      delete: db.prepare('DELETE FROM uploads WHERE id = ?'),
      stale: db.prepare(
        `SELECT * FROM uploads WHERE updated_at < @before AND state <> 'assembling'
           AND (updated_at > @afterAt OR (updated_at = @afterAt AND id > @afterId))
         ORDER BY updated_at, id LIMIT @limit`,
      ),
      inState: db.prepare('SELECT * FROM uploads WHERE state = ? AND id > ? ORDER BY id LIMIT ?'),
      count: db.prepare('SELECT COUNT(*) FROM uploads WHERE state = ?').pluck(),
      known: db.prepare('SELECT id FROM uploads WHERE id = ?').pluck(),
    };
  }

  async createUploads(uploads: UploadRecord[], quota: QuotaCheck): Promise<void> {
    this.db.transaction(() => {
      const total = uploads.reduce((sum, u) => sum + u.size, 0);
      this.ledger.assertFits(quota, { bytes: total, files: uploads.length, uploads: uploads.length });
      for (const u of uploads) this.q.insert.run(u);
      this.ledger.change(quota.userId, { reserved: total, uploads: uploads.length });
    })();
  }

  async getUpload(id: string): Promise<UploadRecord | null> {
    const row = this.q.byId.get(id) as UploadRow | undefined;
    return row ? toUpload(row) : null;
  }

  async putPart(uploadId: string, part: PartRecord, now: number): Promise<void> {
    this.db.transaction(() => {
      const row = this.q.byId.get(uploadId) as UploadRow | undefined;
      if (!row) throw new UploadNotFound();
      if (row.state !== 'open') throw new UploadNotOpen();
      this.q.putPart.run({ uploadId, ...part });
      this.q.touch.run(now, uploadId);
    })();
  }

  async listParts(uploadId: string): Promise<PartRecord[]> {
    return (this.q.parts.all(uploadId) as { part_number: number; size: number; sha256: string }[]).map((r) => ({
      partNumber: r.part_number,
      size: r.size,
      sha256: r.sha256,
    }));
  }

  async beginAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean> {
    return this.q.setState.run({ id: uploadId, from: 'open', to: 'assembling', fileKey, now }).changes === 1;
  }

  async abortAssembly(uploadId: string, now: number): Promise<void> {
    this.q.setState.run({ id: uploadId, from: 'assembling', to: 'open', fileKey: null, now });
  }

  async finishAssembly(uploadId: string, file: FileRecord): Promise<void> {
    this.db.transaction(() => {
      const row = this.q.byId.get(uploadId) as UploadRow;
      const moved = this.q.setState.run({ id: uploadId, from: 'assembling', to: 'completed', fileKey: file.key, now: Date.now() });
      if (moved.changes !== 1) throw new Error(`upload ${uploadId} is not assembling`);
      this.ledger.change(row.user_id, { reserved: -row.size, uploads: -1 });
      this.files.insertInTransaction(file);
      this.q.deleteParts.run(uploadId);
    })();
  }

  async deleteUpload(id: string): Promise<UploadRecord | null> {
    return this.db.transaction(() => {
      const row = this.q.byId.get(id) as UploadRow | undefined;
      if (!row) return null;
      this.q.deleteParts.run(id);
      this.q.delete.run(id);
      if (holdsReservation(row.state)) this.ledger.change(row.user_id, { reserved: -row.size, uploads: -1 });
      return toUpload(row);
    })();
  }

  async staleUploads(before: number, limit: number, after?: { updatedAt: number; id: string }): Promise<UploadRecord[]> {
    const rows = this.q.stale.all({ before, limit, afterAt: after?.updatedAt ?? -1, afterId: after?.id ?? '' }) as UploadRow[];
    return rows.map(toUpload);
  }

  async uploadsInState(state: UploadState, limit: number, afterId = ''): Promise<UploadRecord[]> {
    return (this.q.inState.all(state, afterId, limit) as UploadRow[]).map(toUpload);
  }

  async countUploads(state: UploadState): Promise<number> {
    return this.q.count.get(state) as number;
  }

  async knownUploadIds(ids: string[]): Promise<Set<string>> {
    // Point look-ups on the primary key: a page of directory names costs microseconds each.
    return new Set(ids.filter((id) => this.q.known.get(id) !== undefined));
  }
}
