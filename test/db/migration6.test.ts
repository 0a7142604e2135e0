/**
 * Migration 6 on a database that already holds data: each user's open uploads are counted
 * into the ledger from the uploads table (open and assembling, not completed), so the new
 * MAX_OPEN_UPLOADS / MAX_FILES_PER_USER checks start exact; batch rows are rebuilt by id.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../src/db/migrations.js';
import { openSqliteStore } from '../../src/db/sqlite.js';

describe('migration 6 (open uploads in the ledger, batches by file id)', () => {
  it('backfills open_uploads per user from existing uploads, and the caps then hold', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-mig6-'));
    const file = path.join(dir, 'metadata.sqlite');
    try {
      // A database as the previous release left it: migrations before 6 only.
      const old = new Database(file);
      old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      for (const m of migrations.filter((x) => x.version < 6)) {
        old.exec(m.sql);
        old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      }
      const upload = old.prepare(
        `INSERT INTO uploads (id, user_id, mode, filename, folder, size, mime, sha256, part_size, part_count, state, file_key, created_at, updated_at)
         VALUES (?, ?, 'single', 'f', '', 1, 'x/y', NULL, 1, 1, ?, NULL, 1, 1)`,
      );
      const states = { a: ['open', 'open', 'assembling', 'completed'], b: ['completed'], c: ['open'] } as const;
      let n = 0;
      for (const [user, list] of Object.entries(states)) for (const state of list) upload.run(`upload-${String(n++).padStart(8, '0')}`, user, state);
      const ledger = old.prepare('INSERT INTO user_usage (user_id, file_count, used_bytes, reserved_bytes) VALUES (?, ?, ?, ?)');
      ledger.run('a', 1, 1, 3);
      ledger.run('b', 1, 1, 0);
      ledger.run('c', 0, 0, 1);
      old.prepare(`INSERT INTO batch_downloads VALUES ('h', 'a', 'x.zip', 'store', '["storage/a/k"]', 1, 1, 1, 9999999999)`).run();
      old.close();

      const store = openSqliteStore(file);
      try {
        expect(await store.files.usage('a')).toEqual({ usedBytes: 1, reservedBytes: 3, fileCount: 1, openUploads: 3 });
        expect(await store.files.usage('b')).toMatchObject({ openUploads: 0 });
        expect(await store.files.usage('c')).toMatchObject({ openUploads: 1 });
        expect(await store.batches.getBatch('h', 1)).toBeNull(); // a 15-minute token, not carried over
        const q = { userId: 'a', defaultQuotaBytes: 1e9, maxOpenUploads: 3 };
        const next = { id: 'upload-new00001', userId: 'a', mode: 'single' as const, filename: 'g', folder: '', size: 0, mime: 'x/y', sha256: null, partSize: 1, partCount: 1, state: 'open' as const, fileKey: null, blobRef: '', leaseUntil: null, createdAt: 2, updatedAt: 2 };
        await expect(store.uploads.createUploads([next], q)).rejects.toMatchObject({ code: 'too_many_uploads' });
      } finally {
        await store.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
