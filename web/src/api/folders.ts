/**
 * The direct sub-folders of a folder. SPEC part two's `GET /v1/files/folders` answers it when
 * the server has it; without it they are read from the recursive listing, and only when the
 * folder has files below it at all (recursive total > direct total), so a flat folder of
 * 100,000 files costs two one-record requests, not a walk.
 */
import { client } from './session.js';

export interface FolderEntry {
  name: string;
  path: string;
  file_count: number;
  total_size: number;
}

let routeMissing = false;

export async function subFolders(folder: string, signal: AbortSignal): Promise<FolderEntry[]> {
  if (!routeMissing) {
    try {
      const res = await client.request({ path: '/v1/files/folders', query: { folder: folder || undefined }, signal, retry: false });
      return ((await res.json()) as { folders: FolderEntry[] }).folders;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
      routeMissing = true;
    }
  }
  const f = folder || undefined;
  const [all, direct] = await Promise.all([
    client.files.list({ folder: f, recursive: true, limit: 1, signal }),
    client.files.list({ folder: f, recursive: false, limit: 1, signal }),
  ]);
  if (all.total_count === direct.total_count) return [];
  const prefix = folder ? `${folder}/` : '';
  const found = new Map<string, FolderEntry>();
  for await (const page of client.files.pages({ folder: f, recursive: true, limit: 5_000, signal })) {
    for (const file of page.files) {
      if (!file.folder || file.folder === folder || !file.folder.startsWith(prefix)) continue;
      const name = file.folder.slice(prefix.length).split('/')[0]!;
      const entry = found.get(name) ?? { name, path: prefix + name, file_count: 0, total_size: 0 };
      entry.file_count++;
      entry.total_size += file.size;
      found.set(name, entry);
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}
