/** `rm <key…> [-y]`: deletes files by key, after a confirmation unless -y. */
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { askLine } from '../prompt.js';
import { describeError } from '../session.js';

export const rmCommand: Command = {
  name: 'rm',
  usage: '<key…> [-y]',
  summary: 'delete files (asks first unless -y)',
  options: { yes: { type: 'boolean', short: 'y' } },
  async run({ out, args, session }) {
    const keys = args.positionals;
    if (keys.length === 0) throw new UsageError('name at least one key');
    const { client } = await session();
    if (!args.values.yes) {
      // A pipe may answer too (`yes | stream-line rm …`); no answer at all is no consent.
      const answer = await askLine(out.streams, `delete ${keys.length === 1 ? keys[0] : `${keys.length} files`}? [y/N] `).catch(() => {
        throw new UsageError('no confirmation: pass -y to delete without asking');
      });
      if (!/^y(es)?$/i.test(answer.trim())) {
        out.note('nothing deleted');
        return 1;
      }
    }
    const deleted: string[] = [];
    const failed: Array<{ key: string; error: string; code?: string }> = [];
    for (const key of keys) {
      try {
        await client.deleteFile(key);
        deleted.push(key);
      } catch (err) {
        const { message, code } = describeError(err);
        failed.push({ key, error: message, code });
      }
    }
    out.result({ deleted, failed }, () => deleted.map((k) => `deleted ${k}`));
    if (!out.json) for (const f of failed) out.error(`${f.key}: ${f.error}`);
    return failed.length ? 1 : 0;
  },
};
