/**
 * Names on the local disk: what a Linux file system can hold (a key it cannot lives under
 * `.long/`), who wrote a temp file (`<host>.<pid>.<random>`, so a restart removes a dead
 * writer's at once), and a file's identity.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isMissing } from './local-errno.js';

/** Linux limits: NAME_MAX bytes per directory entry, PATH_MAX bytes per path (with its NUL). */
export const NAME_MAX = 255;
export const PATH_MAX = 4095;

/** Can `absolute` (under `root`) be created as it is on a typical Linux file system? */
export function fitsFileSystem(absolute: string, root: string): boolean {
  if (Buffer.byteLength(absolute) > PATH_MAX) return false;
  return absolute
    .slice(root.length + 1)
    .split(path.sep)
    .every((segment) => Buffer.byteLength(segment) <= NAME_MAX);
}

/** Host names may hold dots: the pid is the second-to-last part of a temp name. */
export const TEMP_OWNER = `${os.hostname()}.${process.pid}`;

/** Was this temp file written by a process of this machine that has ended (a crash)? */
export function deadLocalWriter(name: string): boolean {
  const parts = name.split('.');
  const pid = Number(parts.at(-2));
  if (parts.slice(0, -2).join('.') !== os.hostname() || !Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false; // still running (or its pid was taken: then the age rule decides)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The file's identity (a hard link shares it), or null when there is no such file. */
export async function fileStat(file: string): Promise<{ ino: number; dev: number } | null> {
  try {
    const st = await fs.stat(file);
    return st.isFile() ? { ino: st.ino, dev: st.dev } : null;
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}
