/**
 * The page's uploads: two files at a time, each through the SDK's resumable upload (parts of
 * 8–64 MiB by the file's size, part-size.ts; four in flight; the server hashes them). Pause aborts the requests and keeps the
 * upload open at the server; resume (also after a reload, or when the network comes back)
 * asks the server which parts it holds and sends only the others; cancel aborts and frees
 * the reservation.
 */
import type { FileRecord, UploadProgress } from '../../../src/client/index.js';
import { client } from '../api/session.js';
import { errorText } from '../format.js';
import type { PickedFile } from './entries.js';
import { partSizeFor } from './part-size.js';
import { fingerprint, forgetUpload, saveUpload, savedUploads, type SavedUpload } from './persist.js';

export type UploadState = 'queued' | 'uploading' | 'paused' | 'done' | 'failed' | 'cancelled';

export interface UploadItem {
  id: number;
  file: File;
  name: string;
  folder: string;
  size: number;
  state: UploadState;
  bytes: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  /** Bytes the server already held when this run resumed the upload. */
  resumedBytes: number;
  uploadId?: string;
  error?: string;
  record?: FileRecord;
  ctl?: AbortController;
  fingerprint?: string;
}

export interface Totals {
  files: number;
  active: number;
  bytes: number;
  size: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
}

const FILES_AT_ONCE = 2;
const PARTS_AT_ONCE = 4;

export class UploadQueue {
  items: UploadItem[] = [];
  private seq = 0;
  private listeners = new Set<() => void>();

  constructor(
    private readonly userId: string,
    private readonly onFileDone: (record: FileRecord) => void,
  ) {
    globalThis.addEventListener?.('online', this.onOnline);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** Uploads left unfinished by an earlier page (a reload): shown until resumed or dismissed. */
  unfinished(): SavedUpload[] {
    const running = new Set(this.items.map((i) => i.uploadId));
    return savedUploads(this.userId).filter((u) => !running.has(u.uploadId));
  }

  /** Forgets an unfinished upload and frees its reservation at the server. */
  async discard(uploadId: string): Promise<void> {
    forgetUpload(uploadId);
    this.changed();
    await client.uploads.abort(uploadId).catch(() => undefined);
  }

  /** Queues files for `base` (the folder shown); a file matching an unfinished upload resumes it. */
  async add(picked: PickedFile[], base: string): Promise<void> {
    const saved = savedUploads(this.userId);
    for (const { file, dir } of picked) {
      const folder = [base, dir].filter(Boolean).join('/');
      const item: UploadItem = { id: ++this.seq, file, name: file.name, folder, size: file.size, state: 'queued', bytes: 0, bytesPerSecond: 0, etaSeconds: null, resumedBytes: 0 };
      item.fingerprint = await fingerprint(file, `${folder}/${file.name}`);
      const match = saved.find((s) => s.fingerprint === item.fingerprint && !this.items.some((i) => i.uploadId === s.uploadId));
      if (match) item.uploadId = match.uploadId;
      this.items.push(item);
    }
    this.changed();
    this.pump();
  }

  pause(id: number): void {
    const item = this.find(id);
    if (!item || (item.state !== 'uploading' && item.state !== 'queued')) return;
    item.state = 'paused';
    item.ctl?.abort(new DOMException('paused', 'AbortError'));
    item.bytesPerSecond = 0;
    item.etaSeconds = null;
    this.changed();
    this.pump();
  }

  resume(id: number): void {
    const item = this.find(id);
    if (!item || (item.state !== 'paused' && item.state !== 'failed')) return;
    item.state = 'queued';
    item.error = undefined;
    this.changed();
    this.pump();
  }

  cancel(id: number): void {
    const item = this.find(id);
    if (!item || item.state === 'done' || item.state === 'cancelled') return;
    const wasRunning = item.state === 'uploading';
    item.state = 'cancelled';
    item.ctl?.abort(new DOMException('cancelled', 'AbortError'));
    if (item.uploadId) {
      forgetUpload(item.uploadId);
      // A running upload is aborted at the server once its requests have stopped (run()).
      if (!wasRunning) void client.uploads.abort(item.uploadId).catch(() => undefined);
    }
    this.changed();
    this.pump();
  }

  /** Finished and cancelled rows leave the panel. */
  clearFinished(): void {
    this.items = this.items.filter((i) => i.state !== 'done' && i.state !== 'cancelled');
    this.changed();
  }

  totals(): Totals {
    const live = this.items.filter((i) => i.state !== 'cancelled');
    const size = live.reduce((n, i) => n + i.size, 0);
    const bytes = live.reduce((n, i) => n + i.bytes, 0);
    const bytesPerSecond = live.filter((i) => i.state === 'uploading').reduce((n, i) => n + i.bytesPerSecond, 0);
    const active = live.filter((i) => i.state === 'uploading' || i.state === 'queued').length;
    return { files: live.length, active, bytes, size, bytesPerSecond, etaSeconds: bytesPerSecond > 0 ? (size - bytes) / bytesPerSecond : active ? null : 0 };
  }

  private find(id: number): UploadItem | undefined {
    return this.items.find((i) => i.id === id);
  }

  private readonly onOnline = (): void => {
    // A dropped network failed the uploads that were running: take them up again.
    for (const i of this.items) if (i.state === 'failed' && i.uploadId) i.state = 'queued';
    this.changed();
    this.pump();
  };

  private pump(): void {
    let running = this.items.filter((i) => i.state === 'uploading').length;
    for (const item of this.items) {
      if (running >= FILES_AT_ONCE) break;
      if (item.state !== 'queued') continue;
      running++;
      void this.run(item);
    }
  }

  private async run(item: UploadItem): Promise<void> {
    item.state = 'uploading';
    const ctl = new AbortController();
    item.ctl = ctl;
    this.changed();
    const onProgress = (p: UploadProgress): void => {
      if (ctl.signal.aborted) return;
      item.bytes = p.bytesUploaded;
      item.bytesPerSecond = p.bytesPerSecond;
      item.etaSeconds = p.etaSeconds;
      this.changed();
    };
    try {
      const record = await this.upload(item, ctl.signal, onProgress);
      item.record = record;
      item.state = 'done';
      item.bytes = item.size;
      item.etaSeconds = 0;
      if (item.uploadId) forgetUpload(item.uploadId);
      this.onFileDone(record);
    } catch (err) {
      if (ctl.signal.aborted) {
        if ((item.state as UploadState) === 'cancelled' && item.uploadId) await client.uploads.abort(item.uploadId).catch(() => undefined);
      } else {
        item.state = 'failed';
        item.error = errorText(err);
      }
    } finally {
      item.bytesPerSecond = 0;
      item.ctl = undefined;
      this.changed();
      this.pump();
    }
  }

  private async upload(item: UploadItem, signal: AbortSignal, onProgress: (p: UploadProgress) => void): Promise<FileRecord> {
    const common = {
      folder: item.folder || undefined,
      name: item.name,
      mime: item.file.type || undefined,
      concurrency: PARTS_AT_ONCE,
      partSize: partSizeFor(item.size), // for a new upload; a resumed one keeps its own
      // No per-part SHA-256 from the page: hashing meant reading every slice into the page
      // besides sending it from the file, Chromium's biggest cost (1 GiB: 10.4 → 5.8 s of CPU
      // over its processes, 139 → 206 MB/s on 2 cores). The server still hashes every part and
      // the whole file, and answers each part with its digest; the bytes travel over TCP (TLS in
      // production). The SDK and the CLI keep their per-part checksums.
      checksum: false,
      signal,
      onProgress,
      onStart: (s: { uploadId: string; bytesAlready: number }) => {
        item.uploadId = s.uploadId;
        item.resumedBytes = s.bytesAlready;
        item.bytes = s.bytesAlready;
        saveUpload({ uploadId: s.uploadId, fingerprint: item.fingerprint ?? '', name: item.name, size: item.size, folder: item.folder, userId: this.userId, savedAt: Date.now() });
        this.changed();
      },
    };
    if (item.uploadId) {
      try {
        return await client.uploads.upload(item.file, { ...common, resume: item.uploadId });
      } catch (err) {
        // The upload expired or was aborted at the server: start it anew.
        const status = (err as { status?: number }).status;
        if (signal.aborted || (status !== 404 && status !== 410)) throw err;
        forgetUpload(item.uploadId);
        item.uploadId = undefined;
      }
    }
    return client.uploads.upload(item.file, common);
  }
}
