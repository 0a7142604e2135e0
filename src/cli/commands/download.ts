/**
 * `download <key|folder> [--out PATH] [--parallel N]`: one file by key (`storage/…`), or every
 * file under a folder (its tree kept below --out, default a directory named after the folder).
 * Each file goes to `<target>.partial` first and continues from there with a Range request
 * when run again; its SHA-256 is checked against the record before it takes its name.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { intFlag, str } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { formatBytes } from '../output.js';
import { eachLimit } from '../pool.js';
import { Progress } from '../progress.js';
import { describeError, type FileRecord } from '../session.js';

const isKey = (arg: string): boolean => arg.startsWith('storage/');

async function isDirectory(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** The folder below `base` that `folder` (a sub-folder of `base`, or `base` itself) maps to. */
function relativeFolder(folder: string | null, base: string): string {
  if (!folder || folder === base) return '';
  return folder.startsWith(`${base}/`) ? folder.slice(base.length + 1) : folder;
}

/**
 * Two files of a folder may share a filename (keys differ by id): the second becomes
 * "name (2).ext", so neither overwrites the other nor shares its partial file.
 */
function unique(target: string, taken: Set<string>): string {
  const { dir, name, ext } = path.parse(target);
  let candidate = target;
  for (let n = 2; taken.has(candidate); n++) candidate = path.join(dir, `${name} (${n})${ext}`);
  taken.add(candidate);
  return candidate;
}

export const downloadCommand: Command = {
  name: 'download',
  usage: '<key|folder> [--out PATH] [--parallel N]',
  summary: 'download a file, or a folder recursively; resumes, checks SHA-256',
  options: { out: { type: 'string', short: 'o' }, parallel: { type: 'string' } },
  async run({ out, args, signal, session }) {
    const [what, ...extra] = args.positionals;
    if (!what || extra.length) throw new UsageError('name one key or folder');
    const parallel = intFlag(args.values, 'parallel', 3, 1, 64);
    const given = str(args.values.out);
    const { client } = await session();
    const jobs: Array<{ record: FileRecord; target: string }> = [];
    if (isKey(what)) {
      const record = await client.metadata(what);
      const target = given === undefined ? record.filename : (await isDirectory(given)) ? path.join(given, record.filename) : given;
      jobs.push({ record, target });
    } else {
      const folder = what.replace(/^\/+|\/+$/g, '');
      if (folder === '') throw new UsageError('name a folder (or a key starting with storage/)');
      const base = given ?? path.basename(folder);
      const taken = new Set<string>();
      for await (const record of client.listFiles({ folder, recursive: true, signal })) {
        jobs.push({ record, target: unique(path.join(base, relativeFolder(record.folder, folder), record.filename), taken) });
      }
      if (jobs.length === 0) out.note(`no files under ${folder}`);
    }
    const progress = new Progress(out, jobs.reduce((n, j) => n + j.record.size, 0));
    const done: Array<{ key: string; path: string; size: number; sha256: string }> = [];
    const failed: Array<{ key: string; error: string; code?: string }> = [];
    try {
      await eachLimit(jobs, parallel, async ({ record, target }) => {
        const bar = progress.file(record.filename, record.size);
        try {
          await fs.mkdir(path.dirname(path.resolve(target)), { recursive: true });
          await client.downloadFile(record, target, { signal, onProgress: (p: { loaded: number }) => bar.update(p.loaded) });
          done.push({ key: record.key, path: target, size: record.size, sha256: record.sha256 });
          bar.finish();
        } catch (err) {
          if (signal.aborted) throw err;
          const { message, code } = describeError(err);
          failed.push({ key: record.key, error: message, code });
          bar.finish(`failed: ${record.filename}: ${message}`);
        }
      });
    } finally {
      progress.stop();
    }
    out.result({ downloaded: done, failed }, () => [
      ...done.map((d) => `${d.key} -> ${d.path}`),
      `${done.length} downloaded (${formatBytes(done.reduce((n, d) => n + d.size, 0))}), SHA-256 verified${failed.length ? `, ${failed.length} failed` : ''}`,
    ]);
    if (!out.json) for (const f of failed) out.error(`${f.key}: ${f.error}`);
    return failed.length ? 1 : 0;
  },
};
