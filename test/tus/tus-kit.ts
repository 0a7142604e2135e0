/**
 * Helpers for the tus suites: a real server on a real socket whose PUBLIC_BASE_URL is its own
 * address (tus clients follow the absolute Location), tus-js-client as a promise, raw tus
 * requests, and a download of what a user stored.
 */
import { createHash } from 'node:crypto';
import * as tus from 'tus-js-client';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';

export const MiB = 1024 * 1024;
export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const TUS = { 'Tus-Resumable': '1.0.0' };

export interface TusServer {
  s: TestServer;
  base: string;
  endpoint: string;
}

export async function startTusServer(overrides: Record<string, string> = {}): Promise<TusServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const s = await startTestServer({ PUBLIC_BASE_URL: base, ...overrides });
  await s.app.listen({ port, host: '127.0.0.1' });
  return { s, base, endpoint: `${base}/v1/tus/` };
}

export type UploadOptions = Omit<tus.UploadOptions, 'onSuccess' | 'onError'> & {
  /** Called with the upload once it has sent at least this many bytes (then the test may abort it). */
  stopAfter?: { bytes: number; then: (u: tus.Upload) => void };
};

/** Runs a tus-js-client upload to its end; resolves with its URL. */
export function tusUpload(data: Buffer, opts: UploadOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const { stopAfter, ...rest } = opts;
    const upload: tus.Upload = new tus.Upload(data, {
      retryDelays: [],
      ...rest,
      onProgress: (sent, total) => {
        rest.onProgress?.(sent, total);
        if (stopAfter && sent >= stopAfter.bytes) stopAfter.then(upload);
      },
      onSuccess: () => resolve(upload.url!),
      onError: reject,
    });
    upload.start();
  });
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** The bytes of the user's only file named `filename` (listed, then read from its URL). */
export async function download(t: TusServer, token: string, filename: string): Promise<{ data: Buffer; record: Record<string, unknown> }> {
  const list = await fetch(`${t.base}/v1/files/all?limit=1000`, { headers: bearer(token) });
  const files = ((await list.json()) as { files: Record<string, unknown>[] }).files.filter((f) => f.filename === filename);
  if (files.length !== 1) throw new Error(`expected one ${filename}, found ${files.length}`);
  const res = await fetch(files[0]!.url as string, { headers: bearer(token) });
  if (!res.ok) throw new Error(`download ${res.status}`);
  return { data: Buffer.from(await res.arrayBuffer()), record: files[0]! };
}

export const meta = (m: Record<string, string>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');

/** POST /v1/tus/ (creation); returns the response. */
export function create(t: TusServer, headers: Record<string, string>, body?: Buffer): Promise<Response> {
  return fetch(t.endpoint, { method: 'POST', headers: { ...TUS, ...headers, ...(body ? { 'Content-Type': 'application/offset+octet-stream' } : {}) }, body });
}

export function patch(url: string, headers: Record<string, string>, body: Buffer | ReadableStream<Uint8Array>): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', ...headers },
    body,
    ...(body instanceof Buffer ? {} : { duplex: 'half' }),
  } as RequestInit);
}

export async function offsetOf(url: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...headers } });
  if (res.status !== 200) throw new Error(`HEAD ${res.status}`);
  return Number(res.headers.get('upload-offset'));
}
