/**
 * The disk store's errno, turned into domain errors here and nowhere else: callers see
 * BlobNotFound and StorageFull, the same errors an S3 store raises for NoSuchKey or a full
 * bucket, and never sniff `ENOENT` / `ENOSPC` themselves.
 */
import { BlobNotFound, StorageFull } from '../errors/index.js';

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** The path (or one of its parents) does not exist. */
export const isMissing = (err: unknown): boolean => errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR';

/** The disk (or the user's disk quota) is full: not a bug, and nothing was kept. */
const isNoSpace = (err: unknown): boolean => errnoOf(err) === 'ENOSPC' || errnoOf(err) === 'EDQUOT';

/** Runs a write; a full disk becomes StorageFull (the error handler's 507). */
export async function writing<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw isNoSpace(err) ? new StorageFull(undefined, err) : err;
  }
}

/** Runs a read of `key`; a missing file becomes BlobNotFound. */
export async function reading<T>(key: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw isMissing(err) ? new BlobNotFound(key) : err;
  }
}
