/**
 * Which files an `upload` sends, and where each goes. A file argument goes into --folder (or
 * the root); a directory argument is walked recursively and keeps its structure, its own name
 * included, as `cp -r` and `scp -r` do: `upload photos --folder trips` puts photos/2024/a.jpg
 * into the folder trips/photos/2024. Names are checked by the server's own rules before
 * anything is sent, so a bad name fails the run up front instead of half-way through.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { folderProblem, nameProblem } from '../contract/names.js';
import { CliFailure, UsageError } from './errors.js';

export interface PlannedFile {
  /** Absolute path on this machine. */
  file: string;
  /** What the user typed, joined with the path inside a walked directory: for messages. */
  display: string;
  name: string;
  folder: string | undefined;
  size: number;
  mtimeMs: number;
}

const joinFolder = (...parts: Array<string | undefined>): string | undefined => {
  const joined = parts.filter((p): p is string => !!p).join('/');
  return joined === '' ? undefined : joined;
};

async function walk(dir: string, display: string, folder: string | undefined, into: PlannedFile[], skipped: string[]): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const shown = path.join(display, entry.name);
    // Symbolic links are not followed inside a walk (a link to ".." would never end).
    if (entry.isDirectory()) await walk(full, shown, joinFolder(folder, entry.name.normalize('NFC')), into, skipped);
    else if (entry.isFile()) {
      const stat = await fs.stat(full);
      into.push({ file: full, display: shown, name: entry.name.normalize('NFC'), folder, size: stat.size, mtimeMs: stat.mtimeMs });
    } else skipped.push(shown);
  }
}

export interface UploadPlan {
  files: PlannedFile[];
  /** Entries that are neither files nor directories (links inside a walk, sockets, devices). */
  skipped: string[];
}

export async function planUploads(paths: string[], folder: string | undefined): Promise<UploadPlan> {
  if (paths.length === 0) throw new UsageError('name at least one file or directory to upload');
  if (folder !== undefined) {
    const problem = folderProblem(folder);
    if (problem) throw new UsageError(`--folder: ${problem}`);
  }
  const files: PlannedFile[] = [];
  const skipped: string[] = [];
  for (const given of paths) {
    const abs = path.resolve(given);
    let stat;
    try {
      stat = await fs.stat(abs);
    } catch (err) {
      throw new CliFailure(`${given}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    const base = path.basename(abs).normalize('NFC');
    if (stat.isDirectory()) await walk(abs, given, joinFolder(folder, base), files, skipped);
    else if (stat.isFile()) files.push({ file: abs, display: given, name: base, folder, size: stat.size, mtimeMs: stat.mtimeMs });
    else throw new CliFailure(`${given}: not a regular file or a directory`);
  }
  const problems: string[] = [];
  for (const f of files) {
    const problem = nameProblem(f.name) ?? (f.folder === undefined ? null : folderProblem(f.folder));
    if (problem) problems.push(`${f.display}: the name ${problem}`);
  }
  if (problems.length > 0) throw new CliFailure(`cannot upload, nothing sent:\n  ${problems.join('\n  ')}`);
  return { files, skipped };
}

const MIME_BY_EXTENSION: Record<string, string> = {
  txt: 'text/plain', md: 'text/markdown', csv: 'text/csv', html: 'text/html', css: 'text/css',
  js: 'text/javascript', json: 'application/json', xml: 'application/xml', pdf: 'application/pdf',
  zip: 'application/zip', gz: 'application/gzip', tar: 'application/x-tar',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  avif: 'image/avif', svg: 'image/svg+xml', heic: 'image/heic',
  mp3: 'audio/mpeg', m4a: 'audio/mp4', ogg: 'audio/ogg', wav: 'audio/wav', flac: 'audio/flac',
  mp4: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska',
};

/** A MIME type from the file's extension (the server stores it; it never decides inline/attachment alone). */
export function guessMime(name: string): string {
  const ext = path.extname(name).slice(1).toLowerCase();
  return MIME_BY_EXTENSION[ext] ?? 'application/octet-stream';
}
