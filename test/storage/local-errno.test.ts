/**
 * The disk store's errno stays inside it: ENOSPC/EDQUOT become StorageFull (507 through the
 * handler), ENOENT/ENOTDIR on a read become BlobNotFound (404 file_not_found); anything else
 * passes through untouched (a 500).
 */
import { describe, expect, it } from 'vitest';
import { BlobNotFound, StorageFull } from '../../src/errors/index.js';
import { HTTP_STATUS } from '../../src/http/error-handler.js';
import { reading, writing } from '../../src/storage/local-errno.js';

const errno = (code: string) => Object.assign(new Error(code), { code });
const failWith = (code: string) => () => Promise.reject(errno(code));

describe('local-errno', () => {
  it.each(['ENOSPC', 'EDQUOT'])('a write failing with %s is StorageFull (507 insufficient_storage)', async (code) => {
    const err = await writing(failWith(code)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageFull);
    expect(err).toMatchObject({ code: 'insufficient_storage', cause: { code } });
    expect(HTTP_STATUS[(err as StorageFull).code]).toBe(507);
  });

  it.each(['ENOENT', 'ENOTDIR'])('a read failing with %s is BlobNotFound (404 file_not_found)', async (code) => {
    const err = await reading('storage/u/x_a.txt', failWith(code)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobNotFound);
    expect(err).toMatchObject({ code: 'file_not_found', key: 'storage/u/x_a.txt' });
  });

  it('other failures pass through unchanged', async () => {
    await expect(writing(failWith('EACCES'))).rejects.toMatchObject({ code: 'EACCES' });
    await expect(reading('k', failWith('EIO'))).rejects.toMatchObject({ code: 'EIO' });
    await expect(reading('k', failWith('ENOSPC'))).rejects.toMatchObject({ code: 'ENOSPC' });
  });
});
