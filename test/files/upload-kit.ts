/**
 * Helpers for the upload tests: the protocol's calls as one-liners (through inject), a
 * multipart body builder, and plain node:http requests for the tests that need a real socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import type { TestServer } from '../helpers/app.js';

export const MiB = 1024 * 1024;
export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const md5b64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
export const bytes = (n: number): Buffer => randomBytes(n);

export interface InitFile {
  name: string;
  size: number;
  mime?: string;
  sha256?: string;
}

/** POST /v1/files/init with the service token on behalf of `userId`. */
export function init(s: TestServer, userId: string, body: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return s.asService({ method: 'POST', url: '/v1/files/init', payload: { user_id: userId, ...body } });
}

/** Inits a one-file upload and returns its uploadId (throws unless 201). */
export async function initOne(s: TestServer, userId: string, file: InitFile, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await init(s, userId, { mode: 'chunked', files: [file], ...extra });
  if (res.statusCode !== 201) throw new Error(`init failed: ${res.statusCode} ${res.body}`);
  return res.json().uploadId as string;
}

export function putPart(s: TestServer, uploadId: string, partNumber: number, body: Buffer, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return s.asService({
    method: 'PUT',
    url: `/v1/files/part?uploadId=${uploadId}&partNumber=${partNumber}`,
    headers: { 'content-type': 'application/octet-stream', ...headers },
    payload: body,
  });
}

export function complete(s: TestServer, uploadId: string, extra: Record<string, unknown> = {}): Promise<LightMyRequestResponse> {
  return s.asService({ method: 'POST', url: '/v1/files/complete', payload: { uploadId, ...extra } });
}

export function status(s: TestServer, uploadId: string): Promise<LightMyRequestResponse> {
  return s.asService({ method: 'GET', url: `/v1/files/upload/${uploadId}` });
}

export function list(s: TestServer, userId: string, query = ''): Promise<LightMyRequestResponse> {
  return s.asService({ method: 'GET', url: `/v1/files/all?user_id=${encodeURIComponent(userId)}${query}` });
}

/** A whole upload of `data` in one part: init (single), part, complete. Returns the record. */
export async function uploadFile(s: TestServer, userId: string, name: string, data: Buffer, folder?: string): Promise<Record<string, unknown> & { key: string }> {
  const id = await initOne(s, userId, { name, size: data.length }, { mode: 'single', ...(folder ? { folder } : {}) });
  const part = await putPart(s, id, 1, data);
  if (part.statusCode !== 200) throw new Error(`part failed: ${part.statusCode} ${part.body}`);
  const done = await complete(s, id);
  if (done.statusCode !== 201) throw new Error(`complete failed: ${done.statusCode} ${done.body}`);
  return done.json();
}

export async function usage(s: TestServer, userId: string): Promise<{ usedBytes: number; reservedBytes: number; fileCount: number }> {
  return s.app.ctx.store.files.usage(userId);
}

/** The upload ids the BlobStore holds an area for (through the port: any store). */
export async function uploadAreaIds(s: TestServer): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of s.app.ctx.blobs.uploadAreas(Number.MAX_SAFE_INTEGER)) ids.push(...page.map((a) => a.handle.uploadId));
  return ids;
}

/** The bytes stored under `key` (through the port), or null when there is no such object. */
export async function storedBytes(s: TestServer, key: string): Promise<Buffer | null> {
  if (!(await s.app.ctx.blobs.stat(key))) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of await s.app.ctx.blobs.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Entries of a directory under the root ([] when it does not exist). Local disk only: for the
 * disk-specific suites (test/integration), never for a test that must run on any store.
 */
export async function entries(s: TestServer, rel: string): Promise<string[]> {
  return fs.readdir(path.join(s.root, rel)).catch(() => []);
}

export interface FormPart {
  name: string;
  value?: string;
  filename?: string;
  contentType?: string;
  data?: Buffer;
}

/** A multipart/form-data body (fields and files in the order given). */
export function multipartBody(parts: FormPart[]): { body: Buffer; contentType: string } {
  const boundary = '----sltest' + randomBytes(8).toString('hex');
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    // Printable ASCII goes in filename="…" as browsers send it; anything else in RFC 5987 filename*.
    if (p.filename !== undefined) head += /^[\x20-\x7e]*$/.test(p.filename) && !/["]/.test(p.filename) ? `; filename="${p.filename}"` : `; filename*=UTF-8''${encodeURIComponent(p.filename)}`;
    head += '\r\n';
    if (p.filename !== undefined) head += `Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n`;
    chunks.push(Buffer.from(head + '\r\n'), p.data ?? Buffer.from(p.value ?? ''), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Listens on a random local port; returns the port. */
export async function listen(s: TestServer): Promise<number> {
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  return (s.app.server.address() as AddressInfo).port;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request over a fresh TCP connection. `body` may be a Buffer or a stream (chunked unless content-length is set). */
export function request(
  port: number,
  opts: { method: string; path: string; headers?: Record<string, string | number>; body?: Buffer | Readable },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method, path: opts.path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

/** A readable that yields `total` bytes of a repeating pattern in `chunk`-sized pieces, never all at once. */
export function generated(total: number, chunk = MiB, seed = 7): Readable {
  const block = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) block[i] = (i * 31 + seed) & 0xff;
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk);
      left -= n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

/** SHA-256 of what `generated(total, chunk, seed)` yields, computed the same streaming way. */
export function generatedSha256(total: number, chunk = MiB, seed = 7): string {
  const block = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) block[i] = (i * 31 + seed) & 0xff;
  const h = createHash('sha256');
  for (let left = total; left > 0; left -= chunk) h.update(left >= chunk ? block : block.subarray(0, left));
  return h.digest('hex');
}

/** Polls `check` until it returns true or `ms` pass: for conditions, never to let time pass (use a ManualClock). */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
