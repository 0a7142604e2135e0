/**
 * Small file-system helpers shared by the disk-backed modules (key files, local secrets, the
 * disk store). The errno of a missing or existing file is read here and turned into an
 * outcome (null, false, 'exists'), so callers never sniff `ENOENT` / `EEXIST` themselves.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** The path (or one of its parents) does not exist. */
const isMissing = (err: unknown): boolean => errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR';

/**
 * A temp name beside `file` that no other writer uses: worker threads share a pid, so the pid
 * alone is not enough. Leftovers from a crash never end in the final name's suffix.
 */
const tempBeside = (file: string): string => `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;

/** The names in `dir`, or [] when it does not exist (yet). */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** The file's text, or null when it does not exist (e.g. removed by another process meanwhile). */
export async function readIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export function readIfExistsSync(file: string): string | null {
  try {
    return fsSync.readFileSync(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** Removes a file; false when it was not there. */
export async function removeIfExists(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Creates `file` with `content` unless it exists, atomically across processes: written whole
 * under a temp name, synced, then hard-linked in (link refuses an existing name, where a rename
 * would replace it). 'exists' leaves the existing file untouched.
 */
export async function createExclusive(file: string, content: string, mode: number): Promise<'created' | 'exists'> {
  const tmp = tempBeside(file);
  try {
    await fs.writeFile(tmp, content, { mode, flush: true });
    await fs.link(tmp, file);
    return 'created';
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return 'exists';
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** createExclusive for the synchronous start-up path (config secrets). */
export function createExclusiveSync(file: string, content: string, mode: number): 'created' | 'exists' {
  const tmp = tempBeside(file);
  try {
    fsSync.writeFileSync(tmp, content, { mode, flush: true });
    fsSync.linkSync(tmp, file);
    return 'created';
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return 'exists';
    throw err;
  } finally {
    fsSync.rmSync(tmp, { force: true });
  }
}

/** Replaces `file` whole (temp file + rename): a reader sees the old content or the new, never half. */
export async function replaceWhole(file: string, content: string, mode: number): Promise<void> {
  const tmp = tempBeside(file);
  try {
    await fs.writeFile(tmp, content, { mode, flush: true });
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** fsync a file or a directory (a directory sync makes a rename inside it durable). */
export async function syncPath(target: string): Promise<void> {
  const handle = await fs.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
