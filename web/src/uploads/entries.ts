/**
 * Files from a drop or a picker, each with the folder it goes to: a dropped folder keeps its
 * tree (read through the File and Directory Entries API), a folder picked with
 * `webkitdirectory` keeps `webkitRelativePath`.
 */
export interface PickedFile {
  file: File;
  /** Folder relative to where it was dropped ("" for a loose file). */
  dir: string;
}

export function fromInput(files: FileList | null): PickedFile[] {
  return [...(files ?? [])].map((file) => {
    const rel = file.webkitRelativePath || '';
    return { file, dir: rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '' };
  });
}

export async function fromDrop(dt: DataTransfer): Promise<PickedFile[]> {
  const entries = [...dt.items].map((i) => (i.kind === 'file' ? i.webkitGetAsEntry() : null));
  // Without entries (an old browser, a synthetic drop of plain Files) the files are flat.
  if (entries.every((e) => !e)) return fromInput(dt.files);
  const out: PickedFile[] = [];
  for (const entry of entries) if (entry) await walk(entry, '', out);
  return out;
}

async function walk(entry: FileSystemEntry, dir: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, dir });
    return;
  }
  if (!entry.isDirectory) return;
  const sub = dir ? `${dir}/${entry.name}` : entry.name;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries answers in batches (100 in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await walk(child, sub, out);
  }
}
