/**
 * Uploads: `upload()` does the whole resumable protocol for a Blob/File (or any ByteSource);
 * the single steps (init, part, status, complete, abort) and the one-request upload are here
 * too, for callers that drive the protocol themselves.
 */
import type { FileRecord } from '../contract/files.js';
import type { SignedUploadBody, SignedUploadReply } from '../contract/signed-uploads.js';
import type { AbortReply, CompleteBody, InitBody, InitReply, PartReply, UploadStatus } from '../contract/uploads.js';
import { uploadToSignedUrl, type SignedUploadOptions } from './signed-upload.js';
import { blobSource, sha256Hex, type ByteSource } from './source.js';
import type { Transport } from './transport.js';
import { uploadSource, type UploadOptions } from './upload.js';

type Opts = { signal?: AbortSignal };

export class UploadsApi {
  constructor(private readonly t: Transport) {}

  /**
   * Uploads a Blob, File or ByteSource: init, its parts `concurrency` at a time (each with its
   * SHA-256, each retried alone), complete; resolves to the stored file's record. With
   * `resume: uploadId` it continues an upload another call started, sending only the parts
   * the server lacks. Abort with `signal`: the upload stays open to be resumed (or call
   * `abort(uploadId)` to drop it).
   */
  upload(data: Blob | ByteSource, options: UploadOptions = {}): Promise<FileRecord> {
    const source = data instanceof Blob ? blobSource(data) : data;
    return uploadSource(this.t, source, options);
  }

  /**
   * POST /v1/files: one multipart request for small files (no resume, no parts). Each entry is
   * a File (its name is used) or `{ data, name }`.
   */
  async uploadSmall(files: Array<File | { data: Blob; name: string }>, opts: { folder?: string; userId?: string } & Opts = {}): Promise<FileRecord[]> {
    const form = new FormData();
    for (const f of files) {
      if ('data' in f) form.append('file', f.data, f.name);
      else form.append('file', f, f.name);
    }
    const reply = await this.t.json<{ files: FileRecord[] }>({ method: 'POST', path: '/v1/files', query: { folder: opts.folder, user_id: opts.userId ?? this.t.userId }, body: form, signal: opts.signal });
    return reply.files;
  }

  /**
   * POST /v1/files/signed-upload-url (a backend, or a user for themselves): a URL that uploads
   * one declared file with no other credential; the quota is reserved now.
   */
  signedUploadUrl(body: SignedUploadBody, opts: Opts = {}): Promise<SignedUploadReply> {
    return this.t.json<SignedUploadReply>({ method: 'POST', path: '/v1/files/signed-upload-url', json: { ...body, user_id: body.user_id ?? this.t.userId }, signal: opts.signal });
  }

  /**
   * Sends a Blob/File/ByteSource to a signed upload URL (from `signedUploadUrl`, handed over by
   * a backend): one PUT, or with `partSize` (the mint's) parts N at a time then complete.
   * No credentials of this client are sent. Resolves to the stored file's record.
   */
  uploadToSignedUrl(url: string, data: Blob | ByteSource, options: SignedUploadOptions = {}): Promise<FileRecord> {
    return uploadToSignedUrl(this.t, url, data instanceof Blob ? blobSource(data) : data, options);
  }

  /** POST /v1/files/init: reserves the sizes against the quota; one upload per file. */
  init(body: InitBody, opts: Opts = {}): Promise<InitReply> {
    return this.t.json<InitReply>({ method: 'POST', path: '/v1/files/init', json: { ...body, user_id: body.user_id ?? this.t.userId }, signal: opts.signal });
  }

  /** PUT /v1/files/part: one part's bytes, with their SHA-256 unless `checksum: false`. */
  async putPart(uploadId: string, partNumber: number, bytes: Uint8Array, opts: Opts & { checksum?: boolean } = {}): Promise<PartReply> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.checksum !== false) headers['x-checksum-sha256'] = await sha256Hex(bytes);
    return this.t.json<PartReply>({ method: 'PUT', path: '/v1/files/part', query: { uploadId, partNumber }, body: bytes as Uint8Array<ArrayBuffer>, headers, signal: opts.signal });
  }

  /** GET /v1/files/upload/{uploadId}: state and the parts the server holds. */
  status(uploadId: string, opts: Opts = {}): Promise<UploadStatus> {
    return this.t.json<UploadStatus>({ path: `/v1/files/upload/${encodeURIComponent(uploadId)}`, signal: opts.signal });
  }

  /** POST /v1/files/complete: joins the parts into the file (a retry answers the same record). */
  complete(body: CompleteBody, opts: Opts = {}): Promise<FileRecord> {
    return this.t.json<FileRecord>({ method: 'POST', path: '/v1/files/complete', json: body, signal: opts.signal });
  }

  /** DELETE /v1/files/upload/{uploadId}: parts removed, reservation freed. */
  abort(uploadId: string, opts: Opts = {}): Promise<AbortReply> {
    return this.t.json<AbortReply>({ method: 'DELETE', path: `/v1/files/upload/${encodeURIComponent(uploadId)}`, signal: opts.signal });
  }
}
