/**
 * Crash leftovers on the local disk, found by walking directories with opendir (entries come
 * in small batches) and settled a page at a time, so no step holds a whole tree, a whole
 * table or a whole directory listing in memory.
 *   - .tmp/*: files being written when the process died; always garbage at start-up.
 *   - .parts/{uploadId}: parts of an upload no record names any more.
 *   - storage/… and .long/…: whole objects no file record names (F-13): a crash between
 *     writing the bytes and committing the record, or between deleting the record and the
 *     bytes. Only objects older than `writtenBefore` go, never one an upload may be
 *     committing; every object a record names stays, whatever its age.
 */
import { createHash } from 'node:crypto';
import type { Dir } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { OrphanScan } from './blob-store.js';
import { isMissing } from './local-errno.js';

const PAGE = 500;
/** Digests of long-key objects matched per pass over the recorded long keys. */
const LONG_PAGE = 10_000;
const DIGEST = /^[0-9a-f]{64}$/;

async function openDir(dir: string): Promise<Dir | null> {
  try {
    return await fs.opendir(dir, { bufferSize: 128 });
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** Regular files under `dir`, recursively (the directory entry tells the type: no stat). */
async function* filesUnder(dir: string): AsyncGenerator<string> {
  const handle = await openDir(dir);
  if (!handle) return;
  for await (const entry of handle) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/**
 * Removes `file` if it was last written before `before` (unix ms). Only files no record
 * names get here, so the stat is paid for orphans alone (a stat per object made a start
 * over 50,000 objects take 4 s).
 */
async function removeIfOld(file: string, before: number): Promise<boolean> {
  // Gone meanwhile: nothing to do. Any other failure (EACCES, EIO) is reported, not taken as gone.
  const st = await fs.lstat(file).catch((err: unknown) => {
    if (isMissing(err)) return null;
    throw err;
  });
  if (!st || st.mtimeMs >= before) return false;
  await fs.rm(file, { force: true });
  return true;
}

/** Groups an async sequence into arrays of up to `size`. */
async function* pages<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const item of items) {
    page.push(item);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

async function* names(dir: string): AsyncGenerator<string> {
  const handle = await openDir(dir);
  if (handle) for await (const entry of handle) yield entry.name;
}

/** Empties .tmp: at start-up nothing in it is being written. */
export async function removeTempFiles(tmpDir: string): Promise<number> {
  let removed = 0;
  for await (const page of pages(names(tmpDir), PAGE)) {
    for (const name of page) await fs.rm(path.join(tmpDir, name), { recursive: true, force: true });
    removed += page.length;
  }
  return removed;
}

/** Removes the part folders of uploads `known` does not name. */
export async function removeUnknownPartDirs(partsDir: string, known: (ids: string[]) => Promise<Set<string>>): Promise<number> {
  let removed = 0;
  for await (const page of pages(names(partsDir), PAGE)) {
    const kept = await known(page);
    for (const name of page.filter((n) => !kept.has(n))) {
      await fs.rm(path.join(partsDir, name), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

export interface ObjectLayout {
  root: string;
  /** Where objects live under their key: `<root>/storage/…`. */
  storageDir: string;
  /** Where objects whose key the file system cannot hold live: `.long/xx/<sha256(key)>`. */
  longDir: string;
  /** No key shorter than this (in bytes) is ever stored under `longDir`. */
  minLongKeyBytes: number;
}

export async function removeOrphanObjects(layout: ObjectLayout, scan: OrphanScan): Promise<number> {
  let removed = 0;
  const keyOf = (file: string) => path.relative(layout.root, file).split(path.sep).join('/');
  for await (const page of pages(filesUnder(layout.storageDir), PAGE)) {
    const named = await scan.named(page.map(keyOf));
    for (const file of page) if (!named.has(keyOf(file)) && (await removeIfOld(file, scan.writtenBefore))) removed++;
  }
  const longFiles = async function* (): AsyncGenerator<string> {
    for await (const file of filesUnder(layout.longDir)) if (DIGEST.test(path.basename(file))) yield file;
  };
  for await (const page of pages(longFiles(), LONG_PAGE)) {
    const unclaimed = new Map(page.map((file) => [path.basename(file), file]));
    for await (const keys of scan.longKeys(layout.minLongKeyBytes)) {
      for (const key of keys) unclaimed.delete(createHash('sha256').update(key).digest('hex'));
      if (unclaimed.size === 0) break;
    }
    for (const file of unclaimed.values()) if (await removeIfOld(file, scan.writtenBefore)) removed++;
  }
  return removed;
}
