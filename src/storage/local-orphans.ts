/**
 * Crash leftovers on the local disk, found by walking directories with opendir (entries come
 * in small batches) and settled a page at a time, so no step holds a whole tree, a whole
 * table or a whole directory listing in memory.
 *   - .tmp/*: files being written when a process died (a live write keeps its file fresh).
 *   - .parts/{uploadId}: listed by age; the caller removes those no record names.
 *   - storage/… and .long/…: whole objects no file record names (F-13): a crash between
 *     writing the bytes and committing the record, or between deleting the record and the
 *     bytes. Only objects older than `writtenBefore` go, never one an upload may be
 *     committing; every object a record names stays, whatever its age.
 */
import { createHash } from 'node:crypto';
import type { Dir, Stats } from 'node:fs';
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

/** Gone meanwhile: null. Any other failure (EACCES, EIO) is reported, not taken as gone. */
async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/**
 * Removes `file` if it was last written before `before` (unix ms). Only files no record
 * names get here, so the stat is paid for orphans alone (a stat per object made a start
 * over 50,000 objects take 4 s).
 */
async function removeIfOld(file: string, before: number): Promise<boolean> {
  const st = await lstatOrNull(file);
  if (!st || st.mtimeMs >= before) return false;
  await fs.rm(file, { recursive: true, force: true });
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

/**
 * Removes what .tmp holds whose writer is known to be gone (`writerGone(name)`: a process of
 * this machine that no longer runs), and anything last written before `before` (a writer on
 * another machine sharing the folder; a live write touches its file).
 */
export async function removeTempFiles(tmpDir: string, before: number, writerGone: (name: string) => boolean): Promise<number> {
  let removed = 0;
  for await (const page of pages(names(tmpDir), PAGE)) {
    for (const name of page) if (await removeIfOld(path.join(tmpDir, name), writerGone(name) ? Infinity : before)) removed++;
  }
  return removed;
}

/** The part folders (named by a valid upload id) last written to before `before`, a page at a time. */
export async function* partFolders(partsDir: string, isUploadId: (name: string) => boolean, before: number): AsyncGenerator<{ name: string; touchedAt: number }[]> {
  for await (const page of pages(names(partsDir), PAGE)) {
    const old: { name: string; touchedAt: number }[] = [];
    for (const name of page.filter(isUploadId)) {
      const st = await lstatOrNull(path.join(partsDir, name));
      if (st?.isDirectory() && st.mtimeMs < before) old.push({ name, touchedAt: st.mtimeMs });
    }
    if (old.length > 0) yield old;
  }
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
