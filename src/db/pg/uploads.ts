/**
 * Upload sessions and their received parts on PostgreSQL, for many instances at once. Every
 * race is decided by a conditional write on the upload's row (its row lock orders a part
 * against a completion, two completions, an expiry against a late part), and its loser gets
 * an outcome, never an error. An upload's declared size is reserved against the quota while
 * it is open or assembling, and released in the transaction that ends it.
 */
import type { DeleteUploadOutcome, FileRecord, OutboxEvent, PartRecord, PartWriteOutcome, PutPartOutcome, QuotaCheck, SetLengthOutcome, UploadRecord, UploadState, UploadStore } from '../types.js';
import type { PgClient } from './client.js';
import { insertFileRow } from './files.js';
import { insertEvent } from './outbox.js';
import { assertFits } from '../quota-rules.js';
import { changeUsage, lockUsage } from './quota.js';
import { type PartRow, type UploadRow, toPart, toUpload } from '../rows.js';

const toRow = (u: UploadRecord): UploadRow => ({
  id: u.id,
  user_id: u.userId,
  mode: u.mode,
  filename: u.filename,
  folder: u.folder,
  size: u.size,
  mime: u.mime,
  sha256: u.sha256,
  part_size: u.partSize,
  part_count: u.partCount,
  state: u.state,
  file_key: u.fileKey,
  blob_ref: u.blobRef,
  lease_until: u.leaseUntil,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
});

const UPLOAD_COLUMNS = 'id, user_id, mode, filename, folder, size, mime, sha256, part_size, part_count, state, file_key, blob_ref, lease_until, created_at, updated_at';

export class PgUploadStore implements UploadStore {
  constructor(private readonly db: PgClient) {}

  async createUploads(uploads: UploadRecord[], quota: QuotaCheck): Promise<void> {
    const total = uploads.reduce((sum, u) => sum + u.size, 0);
    await this.db.tx(async (c) => {
      assertFits(await lockUsage(c, quota), quota, { bytes: total, files: uploads.length, uploads: uploads.length });
      // All rows in one statement (JSON numbers below 2^53 convert to BIGINT exactly).
      await c.query(
        `INSERT INTO uploads (${UPLOAD_COLUMNS}) SELECT ${UPLOAD_COLUMNS} FROM json_populate_recordset(NULL::uploads, $1::json)`,
        [JSON.stringify(uploads.map(toRow))],
      );
      await changeUsage(c, quota.userId, { reserved: total, uploads: uploads.length });
    });
  }

  async getUpload(id: string): Promise<UploadRecord | null> {
    const { rows } = await this.db.query<UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = $1`, [id]);
    return rows[0] ? toUpload(rows[0]) : null;
  }

  async putPart(uploadId: string, part: PartRecord, now: number): Promise<PutPartOutcome> {
    return this.db.tx(async (c): Promise<PutPartOutcome> => {
      // The condition is the write, and its row lock is held to COMMIT: a second copy of the
      // same part, or beginAssembly, waits here, then sees this transaction's result.
      const touched = await c.query(`UPDATE uploads SET updated_at = $2 WHERE id = $1 AND state = 'open'`, [uploadId, now]);
      if (touched.rowCount !== 1) {
        const exists = await c.query('SELECT 1 FROM uploads WHERE id = $1', [uploadId]);
        return { outcome: exists.rowCount === 0 ? 'not_found' : 'not_open' };
      }
      // A new statement, so a fresh snapshot taken after the lock: the copy a racing
      // transaction committed is the one read here as replaced. `old` reads the row as it was
      // before `put` (one statement, one snapshot).
      const { rows } = await c.query<PartRow>(
        `WITH old AS (SELECT part_number, size, sha256, ref FROM upload_parts WHERE upload_id = $1 AND part_number = $2),
         put AS (INSERT INTO upload_parts (upload_id, part_number, size, sha256, ref) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, ref = excluded.ref)
         SELECT * FROM old`,
        [uploadId, part.partNumber, part.size, part.sha256, part.ref],
      );
      return { outcome: 'recorded', replaced: rows[0] ? toPart(rows[0]) : null };
    });
  }

  async listParts(uploadId: string): Promise<PartRecord[]> {
    const { rows } = await this.db.query<PartRow>('SELECT part_number, size, sha256, ref FROM upload_parts WHERE upload_id = $1 ORDER BY part_number', [uploadId]);
    return rows.map(toPart);
  }

  async setLength(uploadId: string, size: number, now: number): Promise<SetLengthOutcome> {
    return this.db.tx(async (c): Promise<SetLengthOutcome> => {
      // The row lock first (ordered against putPart, beginAssembly and deleteUpload), then the
      // conditions on the row as it is, the new size and the reservation in this transaction.
      const { rows } = await c.query<UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = $1 FOR UPDATE`, [uploadId]);
      const before = rows[0];
      if (!before) return { outcome: 'not_found' };
      const upload = toUpload(before);
      if (upload.state !== 'open' || upload.mode !== 'tus-deferred' || size > upload.size) return { outcome: 'kept', upload };
      const set: UploadRecord = { ...upload, size, partCount: Math.max(1, Math.ceil(size / upload.partSize)), mode: 'tus', updatedAt: now };
      await c.query(`UPDATE uploads SET size = $2, part_count = $3, mode = 'tus', updated_at = $4 WHERE id = $1`, [uploadId, size, set.partCount, now]);
      await changeUsage(c, upload.userId, { reserved: size - upload.size });
      return { outcome: 'set', upload: set };
    });
  }

  async dropPart(uploadId: string, partNumber: number, now: number): Promise<boolean> {
    return this.db.tx(async (c) => {
      // The open upload's row lock first, as putPart takes it: the two are ordered.
      const touched = await c.query(`UPDATE uploads SET updated_at = $2 WHERE id = $1 AND state = 'open'`, [uploadId, now]);
      if (touched.rowCount !== 1) return false;
      return (await c.query('DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2', [uploadId, partNumber])).rowCount === 1;
    });
  }

  async beginAssembly(uploadId: string, fileKey: string, now: number, leaseUntil: number): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE uploads SET state = 'assembling', file_key = $2, lease_until = $3, updated_at = $4 WHERE id = $1 AND state = 'open'`,
      [uploadId, fileKey, leaseUntil, now],
    );
    return r.rowCount === 1;
  }

  async renewAssembly(uploadId: string, fileKey: string, leaseUntil: number): Promise<boolean> {
    const r = await this.db.query(`UPDATE uploads SET lease_until = $3 WHERE id = $1 AND state = 'assembling' AND file_key = $2`, [uploadId, fileKey, leaseUntil]);
    return r.rowCount === 1;
  }

  async abortAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean> {
    return this.reopen(uploadId, fileKey, now, false);
  }

  async rebaseAssembly(uploadId: string, fileKey: string, blobRef: string, parts: { partNumber: number; ref: string }[]): Promise<boolean> {
    return this.db.tx(async (c) => {
      const r = await c.query(`UPDATE uploads SET blob_ref = $3 WHERE id = $1 AND state = 'assembling' AND file_key = $2`, [uploadId, fileKey, blobRef]);
      if (r.rowCount !== 1) return false;
      for (const p of parts) await c.query('UPDATE upload_parts SET ref = $3 WHERE upload_id = $1 AND part_number = $2', [uploadId, p.partNumber, p.ref]);
      return true;
    });
  }

  async reclaimAssembly(uploadId: string, fileKey: string, now: number): Promise<boolean> {
    return this.reopen(uploadId, fileKey, now, true);
  }

  /** assembling → open for this attempt; with `expiredOnly`, only once its lease ran out. */
  private async reopen(uploadId: string, fileKey: string, now: number, expiredOnly: boolean): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE uploads SET state = 'open', file_key = NULL, lease_until = NULL, updated_at = $3
       WHERE id = $1 AND state = 'assembling' AND file_key = $2 AND (NOT $4 OR lease_until IS NULL OR lease_until <= $3)`,
      [uploadId, fileKey, now, expiredOnly],
    );
    return r.rowCount === 1;
  }

  async expiredAssemblies(now: number, limit: number, afterId = ''): Promise<UploadRecord[]> {
    const { rows } = await this.db.query<UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE state = 'assembling' AND (lease_until IS NULL OR lease_until <= $1) AND id > $2 ORDER BY id LIMIT $3`,
      [now, afterId, limit],
    );
    return rows.map(toUpload);
  }

  async finishAssembly(uploadId: string, file: FileRecord, event?: OutboxEvent): Promise<boolean> {
    return this.db.tx(async (c) => {
      // Only the attempt holding the lease (known by its key) completes; a lost lease writes nothing.
      const { rows } = await c.query<{ user_id: string; size: number }>(
        `UPDATE uploads SET state = 'completed', lease_until = NULL, updated_at = $3
         WHERE id = $1 AND state = 'assembling' AND file_key = $2 RETURNING user_id, size`,
        [uploadId, file.key, Date.parse(file.createdAt)],
      );
      const done = rows[0];
      if (!done) return false;
      await insertFileRow(c, file);
      // The reservation becomes the file: one ledger write (the upload's user is the file's).
      const stored = { files: 1, used: file.size };
      if (file.userId === done.user_id) {
        await changeUsage(c, done.user_id, { reserved: -done.size, uploads: -1, ...stored });
      } else {
        await changeUsage(c, done.user_id, { reserved: -done.size, uploads: -1 });
        await changeUsage(c, file.userId, stored);
      }
      await c.query('DELETE FROM upload_parts WHERE upload_id = $1', [uploadId]);
      await c.query('DELETE FROM upload_writes WHERE upload_id = $1', [uploadId]); // lapsed ones: the completion waited for the others
      await insertEvent(c, event);
      return true;
    });
  }

  async deleteUpload(id: string, when: { states?: UploadState[]; idleBefore?: number } = {}, event?: OutboxEvent): Promise<DeleteUploadOutcome> {
    return this.db.tx(async (c): Promise<DeleteUploadOutcome> => {
      // One conditional DELETE (parts go with it, ON DELETE CASCADE): a part or a completion
      // committed meanwhile is seen by its re-check, and the upload is then kept.
      const { rows } = await c.query<UploadRow>(
        `DELETE FROM uploads WHERE id = $1 AND ($2::text[] IS NULL OR state = ANY($2::text[])) AND ($3::bigint IS NULL OR updated_at < $3)
         RETURNING ${UPLOAD_COLUMNS}`,
        [id, when.states ?? null, when.idleBefore ?? null],
      );
      const gone = rows[0];
      if (gone) {
        if (gone.state === 'open' || gone.state === 'assembling') await changeUsage(c, gone.user_id, { reserved: -gone.size, uploads: -1 });
        await insertEvent(c, event);
        return { outcome: 'deleted', upload: toUpload(gone) };
      }
      const kept = await c.query<UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = $1`, [id]);
      return kept.rows[0] ? { outcome: 'kept', upload: toUpload(kept.rows[0]) } : { outcome: 'not_found' };
    });
  }

  async staleUploads(before: number, limit: number, after?: { updatedAt: number; id: string }): Promise<UploadRecord[]> {
    const { rows } = await this.db.query<UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < $1 AND state <> 'assembling' AND (updated_at, id) > ($2, $3)
       ORDER BY updated_at, id LIMIT $4`,
      [before, after?.updatedAt ?? -1, after?.id ?? '', limit],
    );
    return rows.map(toUpload);
  }

  async beginPartWrite(uploadId: string, writeId: string, now: number, leaseUntil: number): Promise<PartWriteOutcome> {
    return this.db.tx(async (c): Promise<PartWriteOutcome> => {
      // The open upload's row lock, as putPart and beginAssembly take it: a completion that
      // began first makes this 'not_open'; one that comes later sees this write committed.
      const touched = await c.query(`UPDATE uploads SET updated_at = $2 WHERE id = $1 AND state = 'open'`, [uploadId, now]);
      if (touched.rowCount !== 1) {
        const exists = await c.query('SELECT 1 FROM uploads WHERE id = $1', [uploadId]);
        return exists.rowCount === 0 ? 'not_found' : 'not_open';
      }
      await c.query(
        `INSERT INTO upload_writes (upload_id, write_id, lease_until) VALUES ($1, $2, $3)
         ON CONFLICT (upload_id, write_id) DO UPDATE SET lease_until = excluded.lease_until`,
        [uploadId, writeId, leaseUntil],
      );
      return 'registered';
    });
  }

  async renewPartWrite(uploadId: string, writeId: string, leaseUntil: number): Promise<boolean> {
    const { rows } = await this.db.query<{ state: string }>(
      `UPDATE upload_writes w SET lease_until = $3 FROM uploads u
       WHERE w.upload_id = $1 AND w.write_id = $2 AND u.id = w.upload_id RETURNING u.state`,
      [uploadId, writeId, leaseUntil],
    );
    return rows[0]?.state === 'open';
  }

  async endPartWrite(uploadId: string, writeId: string): Promise<void> {
    await this.db.query('DELETE FROM upload_writes WHERE upload_id = $1 AND write_id = $2', [uploadId, writeId]);
  }

  async livePartWrites(uploadId: string, now: number): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM upload_writes WHERE upload_id = $1 AND lease_until > $2', [uploadId, now]);
    return rows[0]!.n;
  }

  async recordConcat(fileId: string, partialUrls: string[]): Promise<void> {
    await this.db.query(
      'INSERT INTO tus_finals (file_id, partials) VALUES ($1, $2) ON CONFLICT (file_id) DO UPDATE SET partials = excluded.partials',
      [fileId, partialUrls.join(' ')], // URLs hold no spaces (RFC 3986)
    );
  }

  async concatOf(fileId: string): Promise<string[] | null> {
    const { rows } = await this.db.query<{ partials: string }>('SELECT partials FROM tus_finals WHERE file_id = $1', [fileId]);
    return rows[0] ? rows[0].partials.split(' ') : null;
  }

  async countUploads(state: UploadState): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT COUNT(*) AS n FROM uploads WHERE state = $1', [state]);
    return rows[0]!.n;
  }

  async knownUploadIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM uploads WHERE id = ANY($1::text[])', [ids]);
    return new Set(rows.map((r) => r.id));
  }
}
