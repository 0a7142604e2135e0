/** `zip <keys…> [--out FILE] [--name N]`: several files as one ZIP (the server streams it). */
import { str } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../output.js';

function defaultName(now = new Date()): string {
  return `stream-line-${now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}.zip`;
}

export const zipCommand: Command = {
  name: 'zip',
  usage: '<keys…> [--out FILE] [--name N]',
  summary: 'download several files as one ZIP',
  options: { out: { type: 'string', short: 'o' }, name: { type: 'string' } },
  async run({ out, args, signal, session }) {
    const keys = args.positionals;
    if (keys.length === 0) throw new UsageError('name at least one key');
    const name = str(args.values.name);
    const target = str(args.values.out) ?? (name ? `${name.replace(/\.zip$/i, '')}.zip` : defaultName());
    const { client } = await session();
    const saved = await client.saveZip({ keys, name, path: target, signal });
    out.result({ path: target, ...saved }, () => [`${target}: ${saved.count} files, ${formatBytes(saved.bytes)}`]);
  },
};
