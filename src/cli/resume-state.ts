/**
 * Resume state for uploads under $XDG_STATE_HOME/stream-line/uploads/ (default
 * ~/.local/state/stream-line/): one small JSON file per file being uploaded, named by a hash of
 * (server, absolute path, size, mtime, target folder and name) and holding the server's upload
 * id. It is written right after `init`, before any part is sent, so that a run stopped at any
 * point — Ctrl-C, kill -9, a lost network — is continued by the next run of the same command,
 * which asks the server which parts it holds and sends only the others. A file changed since
 * (size or mtime) gets a new key, so stale parts are never mixed with new bytes; the entry is
 * removed once the file is complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface UploadIdentity {
  server: string;
  /** Absolute path of the local file. */
  file: string;
  size: number;
  mtimeMs: number;
  folder: string | undefined;
  name: string;
}

export interface ResumeEntry {
  uploadId: string;
  file: string;
  size: number;
  created_at: string;
}

export class ResumeState {
  constructor(private readonly stateDir: string) {}

  private entryPath(id: UploadIdentity): string {
    const key = createHash('sha256')
      .update(JSON.stringify([id.server, id.file, id.size, Math.trunc(id.mtimeMs), id.folder ?? '', id.name]))
      .digest('hex');
    return path.join(this.stateDir, 'uploads', `${key}.json`);
  }

  /** The upload id a previous run left for this very file, if any (a corrupt entry counts as none). */
  async find(id: UploadIdentity): Promise<string | undefined> {
    try {
      const entry = JSON.parse(await fs.readFile(this.entryPath(id), 'utf8')) as Partial<ResumeEntry> | null;
      return typeof entry?.uploadId === 'string' && entry.uploadId !== '' ? entry.uploadId : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Synchronous on purpose: called as the upload starts, it must be on disk before the first
   * part leaves, so that even a kill -9 a moment later finds it (a few hundred bytes).
   */
  remember(id: UploadIdentity, uploadId: string): void {
    const target = this.entryPath(id);
    fsSync.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    const entry: ResumeEntry = { uploadId, file: id.file, size: id.size, created_at: new Date().toISOString() };
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    fsSync.writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
    fsSync.renameSync(tmp, target);
  }

  async forget(id: UploadIdentity): Promise<void> {
    await fs.rm(this.entryPath(id), { force: true });
  }

  /**
   * Drops entries older than `maxAgeMs` (files never uploaded again): the server expired their
   * uploads long ago (UPLOAD_EXPIRY_HOURS, 24 h by default), so they could only answer 404.
   */
  async prune(maxAgeMs: number, now = Date.now()): Promise<void> {
    const dir = path.join(this.stateDir, 'uploads');
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && now - stat.mtimeMs > maxAgeMs) await fs.rm(file, { force: true });
    }
  }
}
