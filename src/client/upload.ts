/**
 * The resumable chunked upload: init (or, to resume, GET the upload's status), every missing
 * part in parallel (each read from the source when its turn comes, hashed with SHA-256 and
 * sent with X-Checksum-SHA256, retried alone when it fails), then complete. An abort leaves
 * the upload open on the server, so a later call with `resume: uploadId` sends only the
 * parts the server does not hold yet.
 */
import type { FileRecord } from '../contract/files.js';
import type { InitReply, PartReply, UploadStatus } from '../contract/uploads.js';
import { StreamLineError } from './errors.js';
import { ProgressMeter, type UploadProgress } from './progress.js';
import type { RetryPolicy } from './retry.js';
import { rangeBody } from './part-body.js';
import type { ByteSource } from './source.js';
import type { QueryValue, Transport } from './transport.js';

export interface UploadOptions {
  /** Name to store the file under (default: the File's name). Required for a nameless source. */
  name?: string;
  /** Folder, e.g. "photos/2026"; default the user's root. */
  folder?: string;
  /** MIME type (default: the File's type, else application/octet-stream). */
  mime?: string;
  /** The user to upload for (a service token must name one; an admin may). */
  userId?: string;
  /** Bytes per part (default: the server's, 8 MiB); the server's bounds apply (5 MiB – 512 MiB). */
  partSize?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Send each part's SHA-256 for the server to check (default true). */
  checksum?: boolean;
  /** SHA-256 (hex) of the whole file, when known: the server checks it at complete. */
  sha256?: string;
  /** An uploadId from an earlier call (onStart): continue it, sending only the parts missing. */
  resume?: string;
  /**
   * Files up to this many bytes go in one request (POST /v1/files) instead of init → part →
   * complete (default 0: always the resumable protocol). Such an upload cannot be resumed.
   */
  singleRequestMaxBytes?: number;
  signal?: AbortSignal;
  /** After each part the server confirmed. */
  onProgress?: (progress: UploadProgress) => void;
  /** Once the upload id is known (before any part is sent): keep it to resume after a failure. */
  onStart?: (info: UploadStart) => void;
  /** Before a request of this upload is retried. */
  onRetry?: (err: StreamLineError, attempt: number, delayMs: number) => void;
  /** Retry policy for this upload's requests (default: the client's). */
  retry?: Partial<RetryPolicy>;
}

export interface UploadStart {
  uploadId: string;
  partSize: number;
  partCount: number;
  /** True when `resume` named an upload the server still had. */
  resumed: boolean;
  /** Bytes the server already held (resume). */
  bytesAlready: number;
}

/** Expected size of part `n` (1-based) of an upload of `size` bytes in `partSize` parts. */
const partLength = (n: number, size: number, partSize: number): number => Math.max(0, Math.min(partSize, size - (n - 1) * partSize));

export async function uploadSource(t: Transport, source: ByteSource, opts: UploadOptions = {}): Promise<FileRecord> {
  const name = opts.name ?? source.name;
  if (!name) throw new TypeError('upload: a name is required (options.name) for a source without one');
  if (!opts.resume && opts.singleRequestMaxBytes !== undefined && source.size <= opts.singleRequestMaxBytes) {
    return uploadInOneRequest(t, source, name, opts);
  }
  const common = { signal: opts.signal, onRetry: opts.onRetry, retry: opts.retry };
  const { uploadId, partSize, partCount, held, resumed, key } = opts.resume
    ? await resumeUpload(t, opts.resume, source.size, common)
    : await initUpload(t, source, name, opts, common);

  const done = new Set(held.keys());
  const bytesAlready = [...held.values()].reduce((n, v) => n + v, 0);
  opts.onStart?.({ uploadId, partSize, partCount, resumed, bytesAlready });
  if (key) return t.json<FileRecord>({ path: `/v1/files/metadata/${encodeKey(key)}`, ...common });

  const where = (n: number): PartTarget => ({ path: '/v1/files/part', query: { uploadId, partNumber: n } });
  await sendParts(t, source, { uploadId, partSize, partCount, done, bytesAlready }, opts, where);

  return t.json<FileRecord>({
    method: 'POST',
    path: '/v1/files/complete',
    json: { uploadId, ...(opts.sha256 ? { sha256: opts.sha256 } : {}) },
    ...common,
  });
}

/** Where part `n` goes: a path (or absolute URL) and its query. */
export interface PartTarget {
  path: string;
  query: Record<string, QueryValue>;
  /** Send without the client's credentials (a signed URL is its own). */
  anonymous?: boolean;
}

export interface PartPlan {
  uploadId: string;
  partSize: number;
  partCount: number;
  /** Part numbers the server holds already. */
  done: Set<number>;
  bytesAlready: number;
}

type PartOptions = Pick<UploadOptions, 'concurrency' | 'checksum' | 'signal' | 'onProgress' | 'onRetry' | 'retry'>;

/**
 * Sends every part not in `plan.done`, `concurrency` at a time: each read from the source when
 * its turn comes, hashed, sent to `where(n)` and retried alone; the first failure (or the
 * caller's abort) stops the rest and is thrown once every request in flight has settled.
 */
export async function sendParts(t: Transport, source: ByteSource, plan: PartPlan, opts: PartOptions, where: (n: number) => PartTarget): Promise<void> {
  const { uploadId, partSize, partCount, done } = plan;
  const common = { signal: opts.signal, onRetry: opts.onRetry, retry: opts.retry };
  const meter = new ProgressMeter(uploadId, source.size, partCount, { bytes: plan.bytesAlready, parts: done.size });
  const missing: number[] = [];
  for (let n = 1; n <= partCount; n++) if (!done.has(n)) missing.push(n);

  // Workers pull the next missing part; the first failure stops the others from taking more.
  const inner = new AbortController();
  const onOuterAbort = (): void => inner.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let failure: unknown;
  const worker = async (): Promise<void> => {
    // After an abort (the caller's, or a failed part's) no part is read, hashed or sent.
    while (failure === undefined && !inner.signal.aborted && missing.length > 0) {
      const n = missing.shift()!;
      try {
        const onSent = opts.onProgress && ((sent: number, restart: boolean) => opts.onProgress!(meter.sending(n, sent, restart)));
        const bytes = await sendPart(t, source, where(n), n, partSize, opts.checksum !== false, { ...common, signal: inner.signal }, onSent);
        opts.onProgress?.(meter.add(bytes, n));
      } catch (err) {
        failure ??= err;
        inner.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, missing.length)) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (opts.signal?.aborted) throw opts.signal.reason;
  if (failure !== undefined) throw failure;
  if (partCount === 0) opts.onProgress?.(meter.snapshot());
}

interface Started {
  uploadId: string;
  partSize: number;
  partCount: number;
  /** Part number → size, of the parts the server holds whole. */
  held: Map<number, number>;
  resumed: boolean;
  /** Set when the upload was completed already. */
  key: string | null;
}

type Common = { signal?: AbortSignal; onRetry?: UploadOptions['onRetry']; retry?: Partial<RetryPolicy> };

async function initUpload(t: Transport, source: ByteSource, name: string, opts: UploadOptions, common: Common): Promise<Started> {
  const reply = await t.json<InitReply>({
    method: 'POST',
    path: '/v1/files/init',
    json: {
      mode: 'chunked',
      files: [{ name, size: source.size, mime: opts.mime ?? source.type, sha256: opts.sha256 }],
      folder: opts.folder,
      partSize: opts.partSize,
      user_id: opts.userId ?? t.userId,
    },
    ...common,
  });
  const u = reply.uploads[0]!;
  return { uploadId: u.uploadId, partSize: u.partSize, partCount: u.partCount, held: new Map(), resumed: false, key: null };
}

async function resumeUpload(t: Transport, uploadId: string, size: number, common: Common): Promise<Started> {
  const status = await t.json<UploadStatus>({ path: `/v1/files/upload/${encodeURIComponent(uploadId)}`, ...common });
  if (status.size !== size) {
    throw new StreamLineError({ status: 0, code: 'upload_size_mismatch', message: `upload ${uploadId} is ${status.size} bytes, the source ${size}: not the same file` });
  }
  // Only a part of the expected size counts: a short copy is sent again.
  const held = new Map<number, number>();
  for (const p of status.parts) if (p.size === partLength(p.partNumber, status.size, status.partSize)) held.set(p.partNumber, p.size);
  return { uploadId, partSize: status.partSize, partCount: status.partCount, held, resumed: true, key: status.state === 'completed' ? status.key : null };
}

/** Sends part `n`; `onSent(bytes, restart)` hears of bytes handed to a streamed body (restart: a new try). */
async function sendPart(
  t: Transport,
  source: ByteSource,
  target: PartTarget,
  n: number,
  partSize: number,
  checksum: boolean,
  common: Common,
  onSent?: (bytes: number, restart: boolean) => void,
): Promise<number> {
  const start = (n - 1) * partSize;
  const part = await rangeBody(source, start, Math.min(start + partSize, source.size), checksum, onSent);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (part.sha256) headers['x-checksum-sha256'] = part.sha256;
  if (part.contentLength !== undefined) headers['content-length'] = String(part.contentLength);
  try {
    const reply = await t.json<PartReply>({ method: 'PUT', path: target.path, query: target.query, auth: !target.anonymous, body: part.body, headers, ...common });
    return reply.size;
  } finally {
    part.release();
  }
}

async function uploadInOneRequest(t: Transport, source: ByteSource, name: string, opts: UploadOptions): Promise<FileRecord> {
  const type = opts.mime ?? source.type ?? 'application/octet-stream';
  // A Blob source goes in as a slice (a browser sends it from the file); other sources are read.
  const data = source.slice ? source.slice(0, source.size) : new Blob([(await source.read(0, source.size)) as Uint8Array<ArrayBuffer>]);
  const form = new FormData();
  form.append('file', new Blob([data], { type }), name);
  const reply = await t.json<{ files: FileRecord[] }>({
    method: 'POST',
    path: '/v1/files',
    query: { folder: opts.folder, user_id: opts.userId ?? t.userId },
    body: form,
    signal: opts.signal,
    onRetry: opts.onRetry,
    retry: opts.retry,
  });
  const file = reply.files[0]!;
  if (opts.sha256 && file.sha256 !== opts.sha256.toLowerCase()) {
    throw new StreamLineError({ status: 0, code: 'checksum_mismatch', message: `stored ${file.key} has SHA-256 ${file.sha256}, expected ${opts.sha256}` });
  }
  const meter = new ProgressMeter('', source.size, 1, { bytes: 0, parts: 0 });
  opts.onProgress?.(meter.add(source.size));
  return file;
}

/** A key as a URL path: each segment percent-encoded, slashes kept. */
export const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');
