/**
 * What survives a reload of an unfinished upload: its upload id and a fingerprint of the file
 * (name, size, modification time and the SHA-256 of its first 64 KiB), in localStorage. Never
 * a token: the upload id alone is no credential (the server checks the session's user). After
 * a reload the page cannot read the file again by itself, so it lists these and resumes one
 * when the person adds a file with the same fingerprint.
 */
import { sha256Hex } from '../../../src/client/index.js';

export interface SavedUpload {
  uploadId: string;
  fingerprint: string;
  name: string;
  size: number;
  folder: string;
  /** The user it belongs to: another person signing in on this browser does not see it. */
  userId: string;
  savedAt: number;
}

const KEY = 'stream-line.uploads.v1';
/** Uploads expire on the server after a day by default; older entries are dropped. */
const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export async function fingerprint(file: File, path: string): Promise<string> {
  const head = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
  return `${path}|${file.size}|${file.lastModified}|${await sha256Hex(head)}`;
}

export function savedUploads(userId: string): SavedUpload[] {
  return readAll().filter((u) => u.userId === userId);
}

export function saveUpload(entry: SavedUpload): void {
  writeAll([...readAll().filter((u) => u.uploadId !== entry.uploadId), entry]);
}

export function forgetUpload(uploadId: string): void {
  writeAll(readAll().filter((u) => u.uploadId !== uploadId));
}

function readAll(): SavedUpload[] {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    if (!Array.isArray(raw)) return [];
    const now = Date.now();
    return raw.filter(
      (u): u is SavedUpload =>
        !!u && typeof u.uploadId === 'string' && typeof u.fingerprint === 'string' && typeof u.userId === 'string' && typeof u.size === 'number' && now - Number(u.savedAt) < MAX_AGE_MS,
    );
  } catch {
    return [];
  }
}

function writeAll(entries: SavedUpload[]): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(entries));
  } catch {
    // Storage full or disabled: the upload still runs, it just cannot be resumed after a reload.
  }
}
