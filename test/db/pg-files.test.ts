/**
 * What only a PostgreSQL file store can get wrong: a unique violation must surface as the
 * same plain error SQLite gives (a caller's bug: keys carry a fresh random id), never as a
 * driver code, and it must roll back everything its transaction wrote (a reservation turned
 * into a file, the upload's state change, the part rows).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore } from '../../src/db/types.js';
import { AppError } from '../../src/errors/index.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { fileOf, uploadOf } from './fixtures.js';

const quota = (userId: string) => ({ userId, defaultQuotaBytes: 1000 });

async function rejection(call: Promise<unknown>): Promise<Error & { code?: unknown }> {
  return call.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error & { code?: unknown }) => e,
  );
}

describePostgres('PostgreSQL file records: duplicates', () => {
  let store: MetadataStore;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    const schema = await freshSchema('files');
    drop = schema.drop;
    store = await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 2 });
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('a second record with the same key or id is a plain error with no driver code, and changes nothing', async () => {
    const f = fileOf('u1', 'docs', 100);
    await store.files.insertFile(f, quota('u1'));
    for (const dup of [{ ...fileOf('u1', 'docs', 5), key: f.key }, { ...fileOf('u1', 'docs', 5), id: f.id }]) {
      const err = await rejection(store.files.insertFile(dup, quota('u1')));
      expect(err).not.toBeInstanceOf(AppError);
      expect(err.code).toBeUndefined();
      expect(err.message).toMatch(/already exists/);
    }
    expect(await store.files.usage('u1')).toEqual({ usedBytes: 100, reservedBytes: 0, fileCount: 1, openUploads: 0 });
  });

  it('a completion whose key is taken writes nothing: the upload stays assembling with its parts and its reservation', async () => {
    const taken = fileOf('u1', '', 10);
    await store.files.insertFile(taken, quota('u1'));
    const u = uploadOf('u1', 100);
    await store.uploads.createUploads([u], quota('u1'));
    await store.uploads.putPart(u.id, { partNumber: 1, size: 100, sha256: 'a'.repeat(64), ref: 'r1' }, 1);
    expect(await store.uploads.beginAssembly(u.id, taken.key, 2, 60_002)).toBe(true);
    const err = await rejection(store.uploads.finishAssembly(u.id, { ...fileOf('u1', '', 100), key: taken.key }));
    expect(err.code).toBeUndefined();
    expect(await store.uploads.getUpload(u.id)).toMatchObject({ state: 'assembling', fileKey: taken.key, leaseUntil: 60_002 });
    expect(await store.uploads.listParts(u.id)).toHaveLength(1);
    expect(await store.files.usage('u1')).toEqual({ usedBytes: 10, reservedBytes: 100, fileCount: 1, openUploads: 1 });
  });
});
