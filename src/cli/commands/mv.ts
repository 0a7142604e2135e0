/**
 * `mv <from> <to>`: POST /v1/files/move (SPEC "Folders and moving files"). A server without
 * that route answers a plain 404 `not_found`: said as "not supported", never imitated with a
 * copy and a delete (which would change the file's id and break its links silently).
 */
import type { Command } from '../command.js';
import { CliFailure, UsageError } from '../errors.js';
import { isRouteMissing } from '../session.js';

export const mvCommand: Command = {
  name: 'mv',
  usage: '<key|folder> <to>',
  summary: 'move or rename a file or folder (servers with POST /v1/files/move)',
  options: {},
  async run({ out, args, session }) {
    const [from, to, ...extra] = args.positionals;
    if (from === undefined || to === undefined || extra.length) throw new UsageError('name what to move and where to');
    const { server, client } = await session();
    let moved;
    try {
      moved = await client.move({ from, to });
    } catch (err) {
      if (isRouteMissing(err)) throw new CliFailure(`mv is not supported by this server (${server} has no POST /v1/files/move)`);
      throw err;
    }
    out.result(moved, () => moved.moved.map((m) => `${m.from} -> ${m.to}`));
  },
};
