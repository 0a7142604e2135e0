/**
 * `upload <paths…> [--folder F] [--parallel N] [--parts M]`: files and directory trees (kept as
 * folders), N files at a time and M parts of each in parallel, with a bar per file and a total.
 * Each file's upload id is saved before its first part (resume-state.ts), so the same command
 * run again after Ctrl-C, kill -9 or a lost network sends only the parts the server lacks.
 */
import { intFlag, str } from '../args.js';
import type { Command } from '../command.js';
import { eachLimit } from '../pool.js';
import { formatBytes } from '../output.js';
import { Progress } from '../progress.js';
import { ResumeState, type UploadIdentity } from '../resume-state.js';
import { describeError, isUploadGone, type FileRecord } from '../session.js';

/** Resume state older than this is dropped (a week: far beyond the server's default 24 h expiry). */
const STATE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export const uploadCommand: Command = {
  name: 'upload',
  usage: '<paths…> [--folder F] [--parallel N] [--parts M]',
  summary: 'upload files and directories (kept as folders); run again to resume',
  options: { folder: { type: 'string' }, parallel: { type: 'string' }, parts: { type: 'string' } },
  async run({ out, env, args, signal, session }) {
    const files = intFlag(args.values, 'parallel', 3, 1, 64);
    const parts = intFlag(args.values, 'parts', 4, 1, 64);
    // Loaded here: the name rules bring zod (~170 ms), which the other commands never need.
    const { guessMime, planUploads } = await import('../upload-plan.js');
    const plan = await planUploads(args.positionals, str(args.values.folder));
    for (const s of plan.skipped) out.note(`skipped ${s}: not a regular file or a directory`);
    const { server, client } = await session();
    const state = new ResumeState(env.stateDir);
    await state.prune(STATE_MAX_AGE_MS);
    const total = plan.files.reduce((n, f) => n + f.size, 0);
    const progress = new Progress(out, total);
    const uploaded: Array<{ path: string; record: FileRecord; resumed: boolean }> = [];
    const failed: Array<{ path: string; error: string; code?: string }> = [];
    try {
      await eachLimit(plan.files, files, async (f) => {
        const id: UploadIdentity = { server, file: f.file, size: f.size, mtimeMs: f.mtimeMs, folder: f.folder, name: f.name };
        const bar = progress.file(f.display, f.size);
        const attempt = (uploadId: string | undefined) =>
          client.uploadFile(f.file, {
            name: f.name,
            folder: f.folder,
            mime: guessMime(f.name),
            uploadId,
            partConcurrency: parts,
            signal,
            onUploadId: (newId: string) => state.remember(id, newId),
            onProgress: (p: { loaded: number }) => bar.update(p.loaded),
          });
        const previous = await state.find(id);
        try {
          let record: FileRecord;
          try {
            record = await attempt(previous);
          } catch (err) {
            // The saved upload expired or was aborted meanwhile: start this file afresh.
            if (previous === undefined || !isUploadGone(err)) throw err;
            await state.forget(id);
            record = await attempt(undefined);
          }
          await state.forget(id);
          uploaded.push({ path: f.display, record, resumed: previous !== undefined });
          bar.finish();
        } catch (err) {
          if (signal.aborted) throw err;
          const { message, code } = describeError(err);
          failed.push({ path: f.display, error: message, code });
          bar.finish(`failed: ${f.display}: ${message}`);
        }
      });
    } finally {
      progress.stop();
    }
    out.result({ uploaded: uploaded.map((u) => ({ path: u.path, resumed: u.resumed, ...u.record })), failed }, () => [
      ...uploaded.map((u) => `${u.path} -> ${u.record.key}${u.resumed ? ' (resumed)' : ''}`),
      `${uploaded.length} uploaded (${formatBytes(uploaded.reduce((n, u) => n + u.record.size, 0))})${failed.length ? `, ${failed.length} failed` : ''}`,
    ]);
    if (!out.json) for (const f of failed) out.error(`${f.path}: ${f.error}`);
    return failed.length ? 1 : 0;
  },
};
