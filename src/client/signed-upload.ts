/**
 * Uploading through a signed upload URL (POST /v1/files/signed-upload-url mints one; whoever
 * holds it needs no other credential): the whole file in one PUT, or — given the mint's
 * `partSize` — its parts N at a time (each hashed, each retried alone, progress as for
 * `upload`), then `complete=1`. The URL's own query is its credential: the client's tokens are
 * never sent along.
 */
import type { FileRecord } from '../contract/files.js';
import { rangeBody } from './part-body.js';
import type { ByteSource } from './source.js';
import type { Transport } from './transport.js';
import { sendParts, type UploadOptions } from './upload.js';

export interface SignedUploadOptions extends Pick<UploadOptions, 'concurrency' | 'checksum' | 'signal' | 'onProgress' | 'onRetry' | 'retry'> {
  /**
   * The mint's `partSize`: send the file in parts of this size (resumable part by part). Without
   * it the file goes in one PUT (read whole into memory to hash it: fine for small files).
   */
  partSize?: number;
}

export async function uploadToSignedUrl(t: Transport, url: string, source: ByteSource, opts: SignedUploadOptions = {}): Promise<FileRecord> {
  const common = { signal: opts.signal, onRetry: opts.onRetry, retry: opts.retry, auth: false };
  const uploadId = new URL(url).searchParams.get('upload') ?? '';
  if (!opts.partSize || source.size <= opts.partSize) {
    const whole = await rangeBody(source, 0, source.size, opts.checksum !== false);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (whole.sha256) headers['x-checksum-sha256'] = whole.sha256;
    if (whole.contentLength !== undefined) headers['content-length'] = String(whole.contentLength);
    const file = await t.json<FileRecord>({ method: 'PUT', path: url, body: whole.body, headers, ...common });
    opts.onProgress?.({ uploadId, bytesUploaded: source.size, bytesTotal: source.size, partsDone: 1, partCount: 1, bytesPerSecond: 0, etaSeconds: 0, fraction: 1 });
    return file;
  }
  const partCount = Math.ceil(source.size / opts.partSize);
  await sendParts(t, source, { uploadId, partSize: opts.partSize, partCount, done: new Set(), bytesAlready: 0 }, opts, (n) => ({ path: url, query: { partNumber: n }, anonymous: true }));
  return t.json<FileRecord>({ method: 'POST', path: url, query: { complete: '1' }, ...common });
}
