/**
 * `stream-line-upload-server/client/node`: the SDK's Node-only helpers. Upload from a file
 * path (each part read from the file by range when its turn comes: never the whole file in
 * memory) and download to a path (resumed with Range from a partial file, then checked
 * against the record's SHA-256). Browsers use the main entry only.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { BatchBody, BatchReply, FileRecord } from '../contract/files.js';
import type { StreamLineClient } from './client.js';
import { StreamLineError, StreamLineNetworkError } from './errors.js';
import { isRetryable, retryDelay, sleep, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import type { ByteSource } from './source.js';
import type { UploadOptions } from './upload.js';

/** A file on disk as a ByteSource: parts are read with positioned reads from one open handle. */
export async function fileSource(filePath: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await fs.open(filePath, 'r');
  const { size } = await handle.stat();
  const spare: Buffer[] = [];
  return {
    size,
    name: path.basename(filePath),
    async read(start, end) {
      const i = spare.findIndex((b) => b.length === end - start);
      const buf = i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafe(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await handle.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) throw new StreamLineError({ status: 0, code: 'upload_size_mismatch', message: `${filePath} shrank while it was uploaded` });
        off += bytesRead;
      }
      return buf;
    },
    sha256: async (bytes) => createHash('sha256').update(bytes).digest('hex'),
    // Parts' buffers are kept for the next parts (as many as were in flight at once).
    release: (bytes) => void (bytes.length > 0 && spare.push(bytes as Buffer)),
    close: () => handle.close(),
  };
}

/** Uploads the file at `filePath` (its base name unless `options.name`): see `client.uploads.upload`. */
export async function uploadPath(client: StreamLineClient, filePath: string, options: UploadOptions = {}): Promise<FileRecord> {
  const source = await fileSource(filePath);
  try {
    return await client.uploads.upload(source, options);
  } finally {
    await source.close();
  }
}

export interface DownloadProgress {
  bytesDownloaded: number;
  bytesTotal: number;
}

export interface DownloadToPathOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Tries after a cut connection or a 5xx/429 (default: the client's policy defaults). */
  retry?: Partial<RetryPolicy>;
  /** Where the bytes go until they are complete and checked (default `${path}.part`). */
  partialPath?: string;
}

/**
 * Downloads `key` to `dest`: bytes go to `dest.part` (resumed from its length with Range and
 * If-Range on the record's ETag, so a file changed since starts over), a connection cut midway
 * resumes from where it stopped, and the result is renamed to `dest` only once its SHA-256
 * equals the record's (else StreamLineError `download_checksum_mismatch`, and the partial file
 * is removed). Resolves to the record.
 */
export async function downloadToPath(client: StreamLineClient, key: string, dest: string, opts: DownloadToPathOptions = {}): Promise<FileRecord> {
  const record = await client.files.metadata(key, { signal: opts.signal });
  const partial = opts.partialPath ?? `${dest}.part`;
  const policy = { ...DEFAULT_RETRY, ...opts.retry };
  let have = await fs.stat(partial).then((s) => s.size, () => 0);
  if (have > record.size) {
    await fs.rm(partial, { force: true });
    have = 0;
  }
  for (let attempt = 1; have < record.size || attempt === 1; attempt++) {
    try {
      have = await fetchInto(client, record, partial, have, opts);
      break;
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const failure = err instanceof StreamLineError ? err : new StreamLineNetworkError(`download of ${key} cut: ${(err as Error).message}`, err);
      const delay = isRetryable(failure) ? retryDelay(policy, attempt, failure) : null;
      if (delay === null) throw failure;
      await sleep(delay, opts.signal);
      have = await fs.stat(partial).then((s) => s.size, () => 0);
    }
  }
  const sha256 = await hashFile(partial);
  if (sha256 !== record.sha256) {
    await fs.rm(partial, { force: true });
    throw new StreamLineError({ status: 0, code: 'download_checksum_mismatch', message: `${key}: downloaded bytes have SHA-256 ${sha256}, the record says ${record.sha256}`, details: { expected: record.sha256, actual: sha256 } });
  }
  await fs.rename(partial, dest);
  return record;
}

/** One GET from byte `have` on, appended to `partial`; returns the partial file's new length. */
async function fetchInto(client: StreamLineClient, record: FileRecord, partial: string, have: number, opts: DownloadToPathOptions): Promise<number> {
  if (record.size === 0) {
    await fs.writeFile(partial, '');
    return 0;
  }
  // The client's own retries cover getting an answer; a cut body is retried by the caller.
  const res = await client.files.download(record.key, { range: have > 0 ? { start: have } : undefined, ifRange: have > 0 ? record.etag : undefined, signal: opts.signal });
  // 200 to a Range request: the file changed (If-Range) or ranges are ignored: start over.
  const append = res.status === 206;
  let written = append ? have : 0;
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    written += chunk.length;
    opts.onProgress?.({ bytesDownloaded: written, bytesTotal: record.size });
  });
  await pipeline(body, createWriteStream(partial, { flags: append ? 'a' : 'w' }), { signal: opts.signal });
  if (written !== record.size) throw new StreamLineNetworkError(`download of ${record.key} ended at ${written} of ${record.size} bytes`);
  return written;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

/** Prepares a ZIP of `body.keys` and streams it to `dest`. Resolves to the batch's answer. */
export async function saveBatch(client: StreamLineClient, body: BatchBody, dest: string, opts: { signal?: AbortSignal } = {}): Promise<BatchReply> {
  const batch = await client.files.batch(body, opts);
  const res = await client.files.batchDownload(batch.token, opts);
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(dest), { signal: opts.signal });
  return batch;
}
