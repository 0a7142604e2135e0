/**
 * The direct sub-folders of a folder, from a recursive listing of the records below it: the
 * server has no folder route yet (SPEC part two's GET /v1/files/folders), and folders exist
 * only as the `folder` of the files in them.
 */
export interface FolderSummary {
  name: string;
  path: string;
  file_count: number;
  total_size: number;
}

export function subFolders(records: Iterable<{ folder: string | null; size: number }>, parent: string | undefined): FolderSummary[] {
  const prefix = parent ? `${parent}/` : '';
  const byName = new Map<string, FolderSummary>();
  for (const r of records) {
    if (!r.folder || !r.folder.startsWith(prefix) || r.folder === parent) continue;
    const name = r.folder.slice(prefix.length).split('/', 1)[0]!;
    const entry = byName.get(name) ?? { name, path: `${prefix}${name}`, file_count: 0, total_size: 0 };
    entry.file_count++;
    entry.total_size += r.size;
    byName.set(name, entry);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
