/**
 * Upload sessions and their received parts in SQLite. An upload's declared size is reserved
 * against the quota while it is open or assembling, and released when it completes, is
 * aborted or expires: always in the same transaction as the state change.
 */
import type Database from 'better-sqlite3';
import type { SqliteFileStore } from './sqlite-files.js';
import type { QuotaLedger } from './sqlite-quota.js';
import type { DeleteUploadOutcome, FileRecord, OutboxEvent, PartRecord, PartWriteOutcome, PutPartOutcome, QuotaCheck, SetLengthOutcome, UploadRecord, UploadState, UploadStore } from './types.js';
import { type PartRow, type UploadRow, toPart, toUpload } from './rows.js';

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
        `INSERT INTO uploads (id, user_id, mode, filename, folder, size, mime, sha256, part_size, part_count, state, file_key, blob_ref, lease_until, created_at, updated_at)
         VALUES (@id, @userId, @mode, @filename, @folder, @size, @mime, @sha256, @partSize, @partCount, @state, @fileKey, @blobRef, @leaseUntil, @createdAt, @updatedAt)`,
      ),
      byId: db.prepare('SELECT * FROM uploads WHERE id = ?'),
      // The condition is the write: only an open upload takes a part (PostgreSQL: the UPDATE's
      // row lock orders it against beginAssembly's).
      touchOpen: db.prepare(`UPDATE uploads SET updated_at = ? WHERE id = ? AND state = 'open'`),
      exists: db.prepare('SELECT 1 FROM uploads WHERE id = ?').pluck(),
      part: db.prepare('SELECT part_number, size, sha256, ref FROM upload_parts WHERE upload_id = ? AND part_number = ?'),
      putPart: db.prepare(
        `INSERT INTO upload_parts (upload_id, part_number, size, sha256, ref) VALUES (@uploadId, @partNumber, @size, @sha256, @ref)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, ref = excluded.ref`,
      ),
      parts: db.prepare('SELECT part_number, size, sha256, ref FROM upload_parts WHERE upload_id = ? ORDER BY part_number'),
      setLength: db.prepare(
        `UPDATE uploads SET size = @size, part_count = @partCount, mode = 'tus', updated_at = @now
         WHERE id = @id AND state = 'open' AND mode = 'tus-deferred' AND size >= @size`,
      ),
      begin: db.prepare(
        `UPDATE uploads SET state = 'assembling', file_key = @fileKey, lease_until = @leaseUntil, updated_at = @now WHERE id = @id AND state = 'open'`,
      ),
      rebase: db.prepare(`UPDATE uploads SET blob_ref = @blobRef WHERE id = @id AND state = 'assembling' AND file_key = @fileKey`),
      partRef: db.prepare('UPDATE upload_parts SET ref = ? WHERE upload_id = ? AND part_number = ?'),
      renew: db.prepare(`UPDATE uploads SET lease_until = @leaseUntil WHERE id = @id AND state = 'assembling' AND file_key = @fileKey`),
      reopen: db.prepare(
        `UPDATE uploads SET state = 'open', file_key = NULL, lease_until = NULL, updated_at = @now
         WHERE id = @id AND state = 'assembling' AND file_key = @fileKey AND (@expiredOnly = 0 OR lease_until IS NULL OR lease_until <= @now)`,
      ),
      finish: db.prepare(
        `UPDATE uploads SET state = 'completed', lease_until = NULL, updated_at = @now WHERE id = @id AND state = 'assembling' AND file_key = @fileKey`,
      ),
      expired: db.prepare(
        `SELECT * FROM uploads WHERE state = 'assembling' AND (lease_until IS NULL OR lease_until <= @now) AND id > @afterId ORDER BY id LIMIT @limit`,
      ),
      deleteParts: db.prepare('DELETE FROM upload_parts WHERE upload_id = ?'),
      dropPart: db.prepare('DELETE FROM upload_parts WHERE upload_id = ? AND part_number = ?'),
      delete: db.prepare('DELETE FROM uploads WHERE id = ?'),
      stale: db.prepare(
        `SELECT * FROM uploads WHERE updated_at < @before AND state <> 'assembling'
           AND (updated_at > @afterAt OR (updated_at = @afterAt AND id > @afterId))
         ORDER BY updated_at, id LIMIT @limit`,
      ),
      count: db.prepare('SELECT COUNT(*) FROM uploads WHERE state = ?').pluck(),
      state: db.prepare('SELECT state FROM uploads WHERE id = ?').pluck(),
      addWrite: db.prepare('INSERT OR REPLACE INTO upload_writes (upload_id, write_id, lease_until) VALUES (?, ?, ?)'),
      renewWrite: db.prepare('UPDATE upload_writes SET lease_until = ? WHERE upload_id = ? AND write_id = ?'),
      endWrite: db.prepare('DELETE FROM upload_writes WHERE upload_id = ? AND write_id = ?'),
      endWrites: db.prepare('DELETE FROM upload_writes WHERE upload_id = ?'),
      liveWrites: db.prepare('SELECT COUNT(*) FROM upload_writes WHERE upload_id = ? AND lease_until > ?').pluck(),
      known: db.prepare('SELECT id FROM uploads WHERE id = ?').pluck(),
      putConcat: db.prepare('INSERT OR REPLACE INTO tus_finals (file_id, partials) VALUES (?, ?)'),
      concat: db.prepare('SELECT partials FROM tus_finals WHERE file_id = ?').pluck(),
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

  async putPart(uploadId: string, part: PartRecord, now: number): Promise<PutPartOutcome> {
    return this.db.transaction((): PutPartOutcome => {
      if (this.q.touchOpen.run(now, uploadId).changes !== 1) {
        return { outcome: this.q.exists.get(uploadId) === undefined ? 'not_found' : 'not_open' };
      }
      const replaced = this.q.part.get(uploadId, part.partNumber) as PartRow | undefined;
      this.q.putPart.run({ uploadId, ...part });
      return { outcome: 'recorded', replaced: replaced ? toPart(replaced) : null };
    }).immediate();
  }

  async listParts(uploadId: string): Promise<PartRecord[]> {
    return (this.q.parts.all(uploadId) as PartRow[]).map(toPart);
  }

  async setLength(uploadId: string, size: number, now: number): Promise<SetLengthOutcome> {
    return this.db.transaction((): SetLengthOutcome => {
      const before = this.q.byId.get(uploadId) as UploadRow | undefined;
      if (!before) return { outcome: 'not_found' };
      if (this.q.setLength.run({ id: uploadId, size, partCount: Math.max(1, Math.ceil(size / before.part_size)), now }).changes !== 1) return { outcome: 'kept', upload: toUpload(before) };
      this.ledger.change(before.user_id, { reserved: size - before.size });
      return { outcome: 'set', upload: toUpload(this.q.byId.get(uploadId) as UploadRow) };
    }).immediate();
  }

  async dropPart(uploadId: string, partNumber: number, now: number): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (this.q.touchOpen.run(now, uploadId).changes !== 1) return false;
      return this.q.dropPart.run(uploadId, partNumber).changes === 1;
    })();
  }

  async beginAssembly(uploadId: string, fileKey: string, now: number, leaseUntil: number): Promise<boolean> {
    return this.q.begin.run({ id: uploadId, fileKey, leaseUntil, now }).changes === 1;
  }

  async renewAssembly(uploadId: string, fileKey: string, leaseUntil: number): Promise<boolean> {
    return this.q.renew.run({ id: uploadId, fileKey, leaseUntil }).changes === 1;
  }

  async abortAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean> {
    return this.q.reopen.run({ id: uploadId, fileKey, now, expiredOnly: 0 }).changes === 1;
  }

  async rebaseAssembly(uploadId: string, fileKey: string, blobRef: string, parts: { partNumber: number; ref: string }[]): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (this.q.rebase.run({ id: uploadId, fileKey, blobRef }).changes !== 1) return false;
      for (const p of parts) this.q.partRef.run(p.ref, uploadId, p.partNumber);
      return true;
    })();
  }

  async reclaimAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean> {
    return this.q.reopen.run({ id: uploadId, fileKey, now, expiredOnly: 1 }).changes === 1;
  }

  async expiredAssemblies(now: number, limit: number, afterId = ''): Promise<UploadRecord[]> {
    return (this.q.expired.all({ now, limit, afterId }) as UploadRow[]).map(toUpload);
  }

  async finishAssembly(uploadId: string, file: FileRecord, event?: OutboxEvent): Promise<boolean> {
    return this.db.transaction((): boolean => {
      const row = this.q.byId.get(uploadId) as UploadRow | undefined;
      if (!row || this.q.finish.run({ id: uploadId, fileKey: file.key, now: Date.parse(file.createdAt) }).changes !== 1) return false;
      this.ledger.change(row.user_id, { reserved: -row.size, uploads: -1 });
      this.files.insertInTransaction(file, event);
      this.q.deleteParts.run(uploadId);
      this.q.endWrites.run(uploadId); // lapsed ones: the completion waited for the others
      return true;
    }).immediate();
  }

  async deleteUpload(id: string, when: { states?: UploadState[]; idleBefore?: number } = {}, event?: OutboxEvent): Promise<DeleteUploadOutcome> {
    return this.db.transaction((): DeleteUploadOutcome => {
      const row = this.q.byId.get(id) as UploadRow | undefined;
      if (!row) return { outcome: 'not_found' };
      const upload = toUpload(row);
      const allowed = (when.states ?? [upload.state]).includes(upload.state) && upload.updatedAt < (when.idleBefore ?? Infinity);
      if (!allowed) return { outcome: 'kept', upload };
      this.q.deleteParts.run(id);
      this.q.delete.run(id);
      if (holdsReservation(row.state)) this.ledger.change(row.user_id, { reserved: -row.size, uploads: -1 });
      this.files.outbox.insertInTransaction(event);
      return { outcome: 'deleted', upload };
    }).immediate();
  }

  async staleUploads(before: number, limit: number, after?: { updatedAt: number; id: string }): Promise<UploadRecord[]> {
    const rows = this.q.stale.all({ before, limit, afterAt: after?.updatedAt ?? -1, afterId: after?.id ?? '' }) as UploadRow[];
    return rows.map(toUpload);
  }

  async beginPartWrite(uploadId: string, writeId: string, now: number, leaseUntil: number): Promise<PartWriteOutcome> {
    return this.db.transaction((): PartWriteOutcome => {
      if (this.q.touchOpen.run(now, uploadId).changes !== 1) return this.q.exists.get(uploadId) === undefined ? 'not_found' : 'not_open';
      this.q.addWrite.run(uploadId, writeId, leaseUntil);
      return 'registered';
    }).immediate();
  }

  async renewPartWrite(uploadId: string, writeId: string, leaseUntil: number): Promise<boolean> {
    return this.db.transaction((): boolean => {
      const renewed = this.q.renewWrite.run(leaseUntil, uploadId, writeId).changes === 1;
      return renewed && this.q.state.get(uploadId) === 'open';
    })();
  }

  async endPartWrite(uploadId: string, writeId: string): Promise<void> {
    this.q.endWrite.run(uploadId, writeId);
  }

  async livePartWrites(uploadId: string, now: number): Promise<number> {
    return this.q.liveWrites.get(uploadId, now) as number;
  }

  async recordConcat(fileId: string, partialUrls: string[]): Promise<void> {
    this.q.putConcat.run(fileId, partialUrls.join(' ')); // URLs hold no spaces (RFC 3986)
  }

  async concatOf(fileId: string): Promise<string[] | null> {
    const partials = this.q.concat.get(fileId) as string | undefined;
    return partials === undefined ? null : partials.split(' ');
  }

  async countUploads(state: UploadState): Promise<number> {
    return this.q.count.get(state) as number;
  }

  async knownUploadIds(ids: string[]): Promise<Set<string>> {
    // Point look-ups on the primary key: a page of directory names costs microseconds each.
    return new Set(ids.filter((id) => this.q.known.get(id) !== undefined));
  }
}
