/**
 * The CLI's connection to a server, through the SDK (src/client/) for every call: which
 * server (--server, STREAM_LINE_URL, else the last login's), which credentials (a service
 * token acting for --user / STREAM_LINE_USER_ID, an access token from STREAM_LINE_TOKEN, else
 * the saved refresh token), and the few operations the commands need. A rotated refresh token
 * is written back to the credentials file as soon as the SDK reports it (the old one is spent).
 */
import { StreamLineClient, StreamLineError, StreamLineNetworkError, type FileRecord, type FolderEntry, type UploadProgress } from '../client/index.js';
import { downloadToPath, saveBatch, uploadPath } from '../client/node.js';
import { forgetLogin, saveLogin, savedLogin } from './credentials.js';
import { normaliseServerUrl, type CliEnv } from './env.js';
import { CliFailure, Interrupted, UsageError } from './errors.js';
import type { Output } from './output.js';

export type { FileRecord } from '../client/index.js';

/** The server to talk to: --server, else STREAM_LINE_URL, else the server of the last login. */
export async function resolveServer(env: CliEnv, flag: string | undefined): Promise<string> {
  const given = flag ?? env.serverUrl;
  if (given !== undefined) return normaliseServerUrl(given);
  const saved = await savedLogin(env.configDir, undefined);
  if (saved) return saved.server;
  throw new UsageError('which server? pass --server URL or set STREAM_LINE_URL');
}

export async function loginWithPassword(server: string, username: string, password: string) {
  return new StreamLineClient({ baseUrl: server }).auth.login(username, password);
}

/** What the commands call: each a thin step over the SDK. */
export class CliClient {
  constructor(readonly sdk: StreamLineClient) {}

  uploadFile(
    file: string,
    o: { name: string; folder?: string; mime: string; uploadId?: string; partConcurrency: number; signal: AbortSignal; onUploadId: (id: string) => void; onProgress: (p: { loaded: number }) => void },
  ): Promise<FileRecord> {
    return uploadPath(this.sdk, file, {
      name: o.name,
      folder: o.folder,
      mime: o.mime,
      resume: o.uploadId,
      concurrency: o.partConcurrency,
      signal: o.signal,
      onStart: (start) => {
        o.onUploadId(start.uploadId);
        o.onProgress({ loaded: start.bytesAlready });
      },
      onProgress: (p: UploadProgress) => o.onProgress({ loaded: p.bytesUploaded }),
    });
  }

  async downloadFile(record: FileRecord, target: string, o: { signal: AbortSignal; onProgress: (p: { loaded: number }) => void }): Promise<void> {
    await downloadToPath(this.sdk, record.key, target, { signal: o.signal, onProgress: (p) => o.onProgress({ loaded: p.bytesDownloaded }) });
  }

  metadata(key: string): Promise<FileRecord> {
    return this.sdk.files.metadata(key);
  }

  listFiles(o: { folder?: string; recursive: boolean; signal: AbortSignal }): AsyncIterable<FileRecord> {
    return this.sdk.files.iterate({ folder: o.folder, recursive: o.recursive, signal: o.signal });
  }

  /** Direct sub-folders with their file counts and sizes (GET /v1/files/folders). */
  folders(o: { folder?: string; signal: AbortSignal }): Promise<FolderEntry[]> {
    return this.sdk.files.folders({ folder: o.folder, signal: o.signal });
  }

  deleteFile(key: string): Promise<void> {
    return this.sdk.files.delete(key);
  }

  async move(o: { from: string; to: string }): Promise<{ moved: Array<{ from: string; to: string }> }> {
    return { moved: await this.sdk.files.move(o) };
  }

  signedUrl(o: { key: string; expiresIn?: number }) {
    return this.sdk.files.signedUrl(o.key, { expiresIn: o.expiresIn });
  }

  async saveZip(o: { keys: string[]; name?: string; path: string; signal: AbortSignal }): Promise<{ count: number; bytes: number }> {
    const batch = await saveBatch(this.sdk, { keys: o.keys, name: o.name }, o.path, { signal: o.signal });
    return { count: batch.count, bytes: batch.total_size };
  }
}

export interface Session {
  server: string;
  client: CliClient;
  logout(): Promise<void>;
  /** Waits for the credentials file to hold the latest refresh token. */
  close(): Promise<void>;
}

export async function openSession(o: { env: CliEnv; server: string | undefined; user: string | undefined; out: Output }): Promise<Session> {
  const { env } = o;
  const server = await resolveServer(env, o.server);
  const userId = o.user ?? env.userId;
  let saving: Promise<void> = Promise.resolve();
  let sdk: StreamLineClient;
  if (env.serviceToken) {
    if (!userId) throw new UsageError('STREAM_LINE_SERVICE_TOKEN acts for a user: name one with --user ID or STREAM_LINE_USER_ID');
    sdk = new StreamLineClient({ baseUrl: server, serviceToken: env.serviceToken, userId });
  } else if (env.token) {
    sdk = new StreamLineClient({ baseUrl: server, accessToken: env.token, userId });
  } else {
    const saved = await savedLogin(env.configDir, server);
    if (!saved) throw new CliFailure(`not logged in to ${server}: run \`stream-line login --server ${server}\`, or set STREAM_LINE_TOKEN`);
    sdk = new StreamLineClient({
      baseUrl: server,
      refreshToken: saved.refresh_token,
      userId,
      // In order, one after the other: the file must end with the newest token.
      onTokens: (tokens) => {
        saving = saving.then(() =>
          tokens ? saveLogin(env.configDir, { server, username: saved.username, refresh_token: tokens.refreshToken }) : forgetLogin(env.configDir, server),
        );
      },
    });
  }
  return {
    server,
    client: new CliClient(sdk),
    logout: () => sdk.auth.logout(),
    close: () => saving.catch((err: unknown) => o.out.note(`could not save the new refresh token: ${(err as Error).message}`)),
  };
}

/** The saved upload is gone (expired, aborted, completed elsewhere): start the file afresh. */
export const isUploadGone = (err: unknown): boolean =>
  err instanceof StreamLineError && (err.status === 404 || err.status === 410 || err.code === 'upload_size_mismatch');

/** A 404 for the route itself (`not_found`), not for a file (`file_not_found`). */
export const isRouteMissing = (err: unknown): boolean => err instanceof StreamLineError && err.status === 404 && err.code === 'not_found';

/** One line for the person, the error's code and status when it has them, and the exit code. */
export function describeError(err: unknown): { message: string; code?: string; status?: number; exitCode: number } {
  if (err instanceof Interrupted || (err instanceof Error && err.name === 'AbortError')) return { message: new Interrupted().message, code: 'interrupted', exitCode: 130 };
  if (err instanceof UsageError || err instanceof CliFailure) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof StreamLineNetworkError) return { message: `cannot reach the server: ${err.message}`, code: err.code, status: 0, exitCode: 1 };
  if (err instanceof StreamLineError) {
    const hint = err.status === 401 ? ' (log in again: stream-line login)' : '';
    return { message: `${err.message}${hint}`, code: err.code, status: err.status || undefined, exitCode: 1 };
  }
  const errno = err as NodeJS.ErrnoException;
  if (errno?.code && errno.path) return { message: `${errno.path}: ${errno.message}`, code: errno.code, exitCode: 1 };
  return { message: err instanceof Error ? err.message : String(err), exitCode: 1 };
}
