/**
 * The SQLite metadata store: the conformance suite on a fresh database file each time, plus
 * what is particular to SQLite (data survives reopening the file; migrations are idempotent).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/db/sqlite.js';
import { fileOf, metadataConformance, uploadOf } from './metadata-conformance.js';

async function freshFile(): Promise<string> {
  return path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'sl-db-')), 'metadata.sqlite');
}

metadataConformance('SQLite (file)', async () => {
  const file = await freshFile();
  const store = openSqliteStore(file);
  return {
    store,
    async cleanup() {
      await store.close();
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    },
  };
});

metadataConformance('SQLite (:memory:)', async () => {
  const store = openSqliteStore(':memory:');
  return { store, cleanup: () => store.close() };
});

describe('SQLite specifics', () => {
  it('F-17 creates the database and its WAL files 0600 whatever the umask (they hold password hashes)', async () => {
    const file = await freshFile();
    const previous = process.umask(0o022);
    try {
      const store = openSqliteStore(file);
      await store.files.insertFile(fileOf('u1', 'docs', 1), { userId: 'u1', defaultQuotaBytes: 100 });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(((await fs.stat(f)).mode & 0o777).toString(8), f).toBe('600');
      await store.close();
    } finally {
      process.umask(previous);
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('keeps files, uploads, parts and the quota ledger across a reopen (migrations run once)', async () => {
    const file = await freshFile();
    try {
      const first = openSqliteStore(file);
      const f = fileOf('u1', 'docs', 10);
      const u = uploadOf('u1', 20);
      await first.files.insertFile(f, { userId: 'u1', defaultQuotaBytes: 100 });
      await first.uploads.createUploads([u], { userId: 'u1', defaultQuotaBytes: 100 });
      await first.uploads.putPart(u.id, { partNumber: 1, size: 5, sha256: 'a'.repeat(64) }, 1);
      await first.close();

      const again = openSqliteStore(file);
      expect(await again.files.getFile(f.key)).toEqual(f);
      expect(await again.uploads.listParts(u.id)).toHaveLength(1);
      expect(await again.files.usage('u1')).toEqual({ usedBytes: 10, reservedBytes: 20, fileCount: 1, openUploads: 1 });
      await again.ping();
      await again.close();
      await expect(again.ping()).rejects.toThrow();
    } finally {
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
