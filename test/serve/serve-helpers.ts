/** Helpers for the download tests: files in the store, raw sockets, ZIP readers. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import type { FileRecord } from '../../src/db/types.js';
import { BlobNotFound } from '../../src/errors/index.js';
import type { TestServer } from '../helpers/app.js';

export const execFileP = promisify(execFile);

export function storeFile(
  s: TestServer,
  userId: string,
  filename: string,
  body: Buffer | string,
  opts: { folder?: string; mime?: string } = {},
): Promise<FileRecord> {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  return s.app.ctx.files.storeObject(userId, { folder: opts.folder ?? '', filename, mime: opts.mime ?? 'application/octet-stream' }, Readable.from(buf));
}

/** The bytes stored under `key`, read through the BlobStore port (null when it holds none). */
export async function storedBytes(s: TestServer, key: string): Promise<Buffer | null> {
  const stream = await s.app.ctx.blobs.read(key).catch((err: unknown) => {
    if (err instanceof BlobNotFound) return null;
    throw err;
  });
  return stream && Buffer.concat(await stream.toArray());
}

/** Stores `body` under `key` through the BlobStore port, replacing what is there (no record is touched). */
export async function putBytes(s: TestServer, key: string, body: Buffer | string): Promise<void> {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  await s.app.ctx.blobs.writeObject(key, Readable.from([buf]), { maxBytes: buf.length });
}

/** `/storage/...` with each segment percent-encoded. */
export const storageUrl = (key: string): string => '/' + key.split('/').map(encodeURIComponent).join('/');

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A buffer of pseudo-random but reproducible bytes. */
export function patterned(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function listen(s: TestServer): Promise<{ port: number; base: string }> {
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const address = s.app.server.address() as net.AddressInfo;
  return { port: address.port, base: `http://127.0.0.1:${address.port}` };
}

export interface RawResponse {
  status: number;
  head: string;
  body: Buffer;
}

/** Sends the request-target byte for byte (no client-side normalisation of `..` or `%2e`). */
export function rawGet(port: number, target: string, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      resolve({ status: Number(head.split(' ')[1]), head, body: all.subarray(split + 4) });
    });
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

/**
 * Streams a URL into `file`, leaving all-zero chunks as holes: a > 4 GiB archive of a
 * sparse file stays sparse on disk too. Returns the status and the byte count.
 */
export function downloadSparse(url: string, file: string): Promise<{ status: number; bytes: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const fd = fs.openSync(file, 'w');
        const zeros = Buffer.alloc(1 << 20);
        let position = 0;
        const sink = new Writable({
          highWaterMark: 4 << 20,
          write(chunk: Buffer, _enc, cb) {
            for (let off = 0; off < chunk.length; off += zeros.length) {
              const slice = chunk.subarray(off, off + zeros.length);
              if (!slice.equals(zeros.subarray(0, slice.length))) fs.writeSync(fd, slice, 0, slice.length, position + off);
            }
            position += chunk.length;
            cb();
          },
          final(cb) {
            fs.ftruncateSync(fd, position);
            fs.closeSync(fd);
            cb();
          },
        });
        res.pipe(sink).on('finish', () => resolve({ status: res.statusCode ?? 0, bytes: position, headers: res.headers })).on('error', reject);
      })
      .on('error', reject);
  });
}

export interface ZipEntryInfo {
  name: string;
  size: number;
  compressedSize: number;
  method: number;
  /** The bytes, for entries up to `maxBuffer`; else null (the sha256 is still computed). */
  data: Buffer | null;
  sha256: string;
}

/**
 * Reads every entry with yauzl (which checks sizes and structure), returning contents.
 * Entries larger than `maxBuffer` are hashed, or with `skipLarge` not read at all (sha256 '').
 */
export function readZip(file: string, maxBuffer = 64 << 20, skipLarge = false): Promise<ZipEntryInfo[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      const out: ZipEntryInfo[] = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        const info = { name: entry.fileName, size: entry.uncompressedSize, compressedSize: entry.compressedSize, method: entry.compressionMethod };
        if (skipLarge && entry.uncompressedSize > maxBuffer) {
          out.push({ ...info, data: null, sha256: '' });
          zip.readEntry();
          return;
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const hash = createHash('sha256');
          const chunks: Buffer[] = [];
          const keep = entry.uncompressedSize <= maxBuffer;
          stream.on('data', (c: Buffer) => {
            hash.update(c);
            if (keep) chunks.push(c);
          });
          stream.on('error', reject);
          stream.on('end', () => {
            out.push({
              ...info,
              data: keep ? Buffer.concat(chunks) : null,
              sha256: hash.digest('hex'),
            });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** The last `n` bytes of a stored entry, read through yauzl's ranged reader. */
export function readEntryTail(file: string, name: string, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName !== name) return zip.readEntry();
        const size = entry.uncompressedSize;
        zip.openReadStream(entry, { start: size - n, end: size }, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            zip.close();
            resolve(Buffer.concat(chunks));
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => reject(new Error(`no entry ${name}`)));
      zip.readEntry();
    });
  });
}

/** `unzip -t` must report no errors. */
export async function unzipTest(file: string): Promise<string> {
  const { stdout } = await execFileP('unzip', ['-t', file], { maxBuffer: 64 << 20 });
  return stdout;
}

export const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
