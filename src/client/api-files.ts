/** Finished files: listing (pages and an async iterator), metadata, deletion, usage, downloads, signed URLs, ZIP batches. */
import type { BatchBody, BatchReply, Disposition, FileRecord, ListOrder, ListReply, ListSort, UsageReply } from '../contract/files.js';
import type { DeleteFolderReply, FolderEntry, MoveReply } from '../contract/folders.js';
import type { Transport } from './transport.js';
import { encodeKey } from './upload.js';

type Opts = { signal?: AbortSignal };

export interface ListOptions extends Opts {
  /** The user whose files to list (service token: required; admin: anyone). */
  userId?: string;
  /** That folder and, unless `recursive: false`, everything below it. */
  folder?: string;
  recursive?: boolean;
  /** Files per page (1–10,000; server default 1,000). */
  limit?: number;
  /** The `next_cursor` of the previous page (of the same sort and order). */
  cursor?: string;
  /** `date` (default), `name` or `size`. */
  sort?: ListSort;
  /** Default `desc` for date and size, `asc` for name. */
  order?: ListOrder;
  /** Only files whose filename contains this (ASCII letters in any case); totals count only those. */
  q?: string;
}

export interface DownloadOptions extends Opts {
  /** Bytes [start, end] inclusive, as HTTP ranges are; `end` omitted: to the end of the file. */
  range?: { start: number; end?: number };
  /** Only if the file still has this ETag (If-Range): otherwise the whole file comes back (200). */
  ifRange?: string;
  disposition?: Disposition;
}

export class FilesApi {
  constructor(private readonly t: Transport) {}

  /** GET /v1/files/all: one page, newest first unless `sort`/`order` say otherwise, with totals over every match. */
  list(opts: ListOptions = {}): Promise<ListReply> {
    return this.t.json<ListReply>({
      path: '/v1/files/all',
      query: { user_id: opts.userId ?? this.t.userId, folder: opts.folder, recursive: opts.recursive, limit: opts.limit, cursor: opts.cursor, sort: opts.sort, order: opts.order, q: opts.q || undefined },
      signal: opts.signal,
    });
  }

  /** Every page of a listing, following `next_cursor`. */
  async *pages(opts: ListOptions = {}): AsyncGenerator<ListReply, void, undefined> {
    let cursor = opts.cursor;
    do {
      const page = await this.list({ ...opts, cursor });
      yield page;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** Every file of a listing, page after page: `for await (const f of sl.files.iterate())`. */
  async *iterate(opts: ListOptions = {}): AsyncGenerator<FileRecord, void, undefined> {
    for await (const page of this.pages(opts)) yield* page.files;
  }

  /** GET /v1/files/folders: the folders directly under `folder` (default the root), with file counts and sizes. */
  async folders(opts: Opts & { folder?: string; userId?: string } = {}): Promise<FolderEntry[]> {
    const reply = await this.t.json<{ folders: FolderEntry[] }>({ path: '/v1/files/folders', query: { folder: opts.folder, user_id: opts.userId ?? this.t.userId }, signal: opts.signal });
    return reply.folders;
  }

  /** DELETE /v1/files/folder: every file in `folder` and below; resolves to how many and the bytes freed. */
  deleteFolder(folder: string, opts: Opts & { userId?: string } = {}): Promise<DeleteFolderReply> {
    return this.t.json<DeleteFolderReply>({ method: 'DELETE', path: '/v1/files/folder', query: { folder, user_id: opts.userId ?? this.t.userId }, signal: opts.signal });
  }

  /** GET /v1/files/metadata/{key}. 404 file_not_found. */
  metadata(key: string, opts: Opts = {}): Promise<FileRecord> {
    return this.t.json<FileRecord>({ path: `/v1/files/metadata/${encodeKey(key)}`, signal: opts.signal });
  }

  /** DELETE /v1/files/{key}: bytes and record go, quota is freed. */
  async delete(key: string, opts: Opts = {}): Promise<void> {
    await this.t.json({ method: 'DELETE', path: `/v1/files/${encodeKey(key)}`, signal: opts.signal });
  }

  /** GET /v1/files/usage: quota, bytes stored and held by open uploads. */
  usage(opts: Opts & { userId?: string } = {}): Promise<UsageReply> {
    return this.t.json<UsageReply>({ path: '/v1/files/usage', query: { user_id: opts.userId ?? this.t.userId }, signal: opts.signal });
  }

  /** GET /v1/files/signed-url: a URL that downloads the file without credentials until it expires. */
  signedUrl(key: string, opts: Opts & { expiresIn?: number; disposition?: Disposition } = {}): Promise<{ url: string; exp: number; expires_at: string }> {
    return this.t.json({ path: '/v1/files/signed-url', query: { key, expires_in: opts.expiresIn, disposition: opts.disposition }, signal: opts.signal });
  }

  /** The file's `/storage/…` URL (public unless the server runs with PUBLIC_STORAGE=false). */
  storageUrl(key: string): string {
    return `${this.t.baseUrl}/${encodeKey(key)}`;
  }

  /**
   * GET /storage/{key} with this client's credentials: the Response, body unread (stream it
   * with `res.body`, or `await res.arrayBuffer()`). A `range` answers 206 with those bytes.
   */
  download(key: string, opts: DownloadOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.range) headers.range = `bytes=${opts.range.start}-${opts.range.end ?? ''}`;
    if (opts.ifRange) headers['if-range'] = opts.ifRange;
    return this.t.send({ path: `/${encodeKey(key)}`, query: { disposition: opts.disposition }, headers, signal: opts.signal });
  }

  /** POST /v1/files/batch-download: prepares a ZIP; its `url` downloads it (the token is the credential). */
  batch(body: BatchBody, opts: Opts = {}): Promise<BatchReply> {
    return this.t.json<BatchReply>({ method: 'POST', path: '/v1/files/batch-download', json: { ...body, user_id: body.user_id ?? this.t.userId }, signal: opts.signal });
  }

  /**
   * POST /v1/files/move (a server without it answers 404 `not_found`): a file key to a new
   * `folder/filename` or into a folder (`to` ending in "/", or "" for the root), or a folder
   * to a new path. Resolves to the old and new keys. A clash answers 409 and moves nothing.
   */
  async move(body: { from: string; to: string; userId?: string }, opts: Opts = {}): Promise<MoveReply['moved']> {
    const reply = await this.t.json<MoveReply>({
      method: 'POST',
      path: '/v1/files/move',
      json: { from: body.from, to: body.to, user_id: body.userId ?? this.t.userId },
      signal: opts.signal,
    });
    return reply.moved;
  }

  /** GET /v1/files/batch-download/{token}: the ZIP as a streaming Response. */
  batchDownload(token: string, opts: Opts = {}): Promise<Response> {
    return this.t.send({ path: `/v1/files/batch-download/${encodeURIComponent(token)}`, auth: false, signal: opts.signal });
  }
}
