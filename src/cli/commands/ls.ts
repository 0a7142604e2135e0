/** `ls [folder]`: the folder's direct sub-folders, then its files (newest first). */
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes, table } from '../output.js';
import type { FileRecord } from '../session.js';

export const lsCommand: Command = {
  name: 'ls',
  usage: '[folder]',
  summary: 'list a folder: its sub-folders and files',
  options: {},
  async run({ out, args, signal, session }) {
    const [given, ...extra] = args.positionals;
    if (extra.length) throw new UsageError('name at most one folder');
    const folder = given?.replace(/^\/+|\/+$/g, '') || undefined;
    const { client } = await session();
    const folders = await client.folders({ folder, signal });
    const files: FileRecord[] = [];
    for await (const record of client.listFiles({ folder, recursive: false, signal })) files.push(record);
    out.result({ folder: folder ?? '', folders, files }, () =>
      table([
        ...folders.map((f) => [`${f.file_count} files`, formatBytes(f.total_size), '', `${f.name}/`]),
        ...files.map((f) => [formatBytes(f.size), f.created_at.replace('T', ' ').slice(0, 16), f.filename, f.key]),
      ]),
    );
  },
};
