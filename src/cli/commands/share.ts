/** `share <key> [--expires 1h]`: a signed download link (`/get/…`) that needs no credentials. */
import { parseDurationSeconds } from '../../config/durations.js';
import { str } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';

export const shareCommand: Command = {
  name: 'share',
  usage: '<key> [--expires 90s|15m|1h|7d]',
  summary: 'print a signed link to a file (no login needed to open it)',
  options: { expires: { type: 'string' } },
  async run({ out, args, session }) {
    const [key, ...extra] = args.positionals;
    if (!key || extra.length) throw new UsageError('name one key');
    const raw = str(args.values.expires);
    const expiresIn = raw === undefined ? undefined : parseDurationSeconds(raw);
    if (expiresIn === null) throw new UsageError(`--expires: a duration such as 90s, 15m, 1h or 7d, not "${raw}"`);
    const { client } = await session();
    const signed = await client.signedUrl({ key, expiresIn });
    out.result(signed, () => [signed.url]);
  },
};
