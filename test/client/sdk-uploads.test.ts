/**
 * The SDK's resumable upload against the real server on a real socket: ~20 MiB in four parts
 * four at a time, compared byte for byte after download; an abort mid-upload resumed by a
 * second call that sends only the missing parts (PUTs counted at a proxy); a connection cut
 * mid-part that the SDK retries; the Node helpers (upload from a path, download to a path
 * resumed with Range and checked with SHA-256).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamLineClient, StreamLineError, StreamLineNetworkError, type UploadProgress } from '../../src/client/index.js';
import { downloadToPath, fileSource, uploadPath } from '../../src/client/node.js';
import { tempDir } from '../helpers/app.js';
import { patternBytes, startCuttingProxy, startHttpProxy, startSdkServer, type SdkServer } from './sdk-kit.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const fast = { minDelayMs: 20, maxDelayMs: 200 };

let srv: SdkServer;
let token: string;
let dir: string;

beforeAll(async () => {
  srv = await startSdkServer();
  token = await srv.s.tokenFor('uploader');
  dir = await tempDir('sl-sdk-');
});
afterAll(async () => {
  await srv?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('SDK uploads', () => {
  it('uploads ~20 MiB in 5 MiB parts, four at a time, with progress; the download is the same bytes', async () => {
    const data = patternBytes(20 * MiB + 12_345, 7);
    const proxy = await startHttpProxy(srv.port);
    try {
      const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: token });
      const progress: UploadProgress[] = [];
      let started: { uploadId: string; partCount: number } | undefined;
      const file = await sl.uploads.upload(new Blob([data]), {
        name: 'big.bin',
        folder: 'sdk',
        partSize: 5 * MiB,
        concurrency: 4,
        onStart: (s) => (started = s),
        onProgress: (p) => progress.push(p),
      });
      expect(started).toMatchObject({ partCount: 5 });
      expect(file).toMatchObject({ filename: 'big.bin', folder: 'sdk', size: data.length, sha256: sha(data) });
      // Every part carried its SHA-256 for the server to check.
      const puts = proxy.seen.filter((r) => r.method === 'PUT');
      expect(puts).toHaveLength(5);
      expect(puts.every((r) => /^[0-9a-f]{64}$/.test(String(r.headers['x-checksum-sha256'])))).toBe(true);
      expect([...new Set(progress.map((p) => p.partsDone))]).toEqual([0, 1, 2, 3, 4, 5]);
      // Node streams each part: progress moves before the first part is confirmed.
      expect(progress.some((p) => p.partsDone === 0 && p.bytesUploaded > 0)).toBe(true);
      expect(progress.map((p) => p.bytesUploaded)).toEqual([...progress.map((p) => p.bytesUploaded)].sort((a, b) => a - b));
      expect(progress.at(-1)).toMatchObject({ bytesUploaded: data.length, bytesTotal: data.length, fraction: 1, etaSeconds: 0 });
      expect(progress.at(-1)!.bytesPerSecond).toBeGreaterThan(0);

      const res = await sl.files.download(file.key);
      expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
      const ranged = await sl.files.download(file.key, { range: { start: 5 * MiB - 3, end: 5 * MiB + 2 } });
      expect(ranged.status).toBe(206);
      expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(5 * MiB - 3, 5 * MiB + 3))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('aborted mid-upload, a second call with the upload id sends only the missing parts', async () => {
    const data = patternBytes(4 * 5 * MiB, 11);
    const proxy = await startHttpProxy(srv.port);
    try {
      const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: token });
      const ctl = new AbortController();
      let uploadId = '';
      const first = sl.uploads.upload(new Blob([data]), {
        name: 'resumed.bin',
        partSize: 5 * MiB,
        concurrency: 1,
        signal: ctl.signal,
        onStart: (s) => (uploadId = s.uploadId),
        onProgress: (p) => p.partsDone === 2 && ctl.abort(),
      });
      await expect(first).rejects.toMatchObject({ name: 'AbortError' });
      const held = await sl.uploads.status(uploadId);
      expect(held.state).toBe('open');
      expect(held.parts.map((p) => p.partNumber)).toEqual([1, 2]);

      const putsBefore = proxy.seen.filter((r) => r.method === 'PUT').length;
      let resumed: { resumed: boolean; bytesAlready: number } | undefined;
      const file = await sl.uploads.upload(new Blob([data]), { name: 'resumed.bin', resume: uploadId, onStart: (s) => (resumed = s) });
      const resent = proxy.seen.slice().filter((r) => r.method === 'PUT').slice(putsBefore);
      expect(resumed).toMatchObject({ resumed: true, bytesAlready: 10 * MiB });
      expect(resent.map((r) => new URL(r.url, 'http://x').searchParams.get('partNumber')).sort()).toEqual(['3', '4']);
      expect(file.sha256).toBe(sha(data));
      // Resuming a completed upload answers its record without sending anything.
      const again = await sl.uploads.upload(new Blob([data]), { name: 'resumed.bin', resume: uploadId });
      expect(again.key).toBe(file.key);
      // A different source for the same upload id is refused before any byte is sent.
      await expect(sl.uploads.upload(new Blob([data.subarray(1)]), { name: 'x', resume: uploadId })).rejects.toMatchObject({ code: 'upload_size_mismatch' });
    } finally {
      await proxy.close();
    }
  });

  it('a connection cut mid-part is retried (that part only) and the upload completes', async () => {
    const data = patternBytes(3 * 5 * MiB + 999, 13);
    const cutter = await startCuttingProxy(srv.port, 'partNumber=2 ', 2 * MiB);
    try {
      const sl = new StreamLineClient({ baseUrl: cutter.url, accessToken: token, retry: fast });
      const retries: StreamLineError[] = [];
      const file = await sl.uploads.upload(new Blob([data]), { name: 'cut.bin', partSize: 5 * MiB, concurrency: 2, onRetry: (e) => retries.push(e) });
      expect(cutter.cuts).toBe(1);
      expect(retries).toHaveLength(1);
      expect(retries[0]).toBeInstanceOf(StreamLineNetworkError);
      expect(file.sha256).toBe(sha(data));
      const got = Buffer.from(await (await sl.files.download(file.key)).arrayBuffer());
      expect(got.equals(data)).toBe(true);
    } finally {
      await cutter.close();
    }
  });

  it('Node: uploads from a path, downloads to a path resuming a partial file, refuses bytes whose SHA-256 differs', async () => {
    const data = patternBytes(7 * MiB + 3, 17);
    const src = path.join(dir, 'source.bin');
    await fs.writeFile(src, data);
    const proxy = await startHttpProxy(srv.port);
    try {
      const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: token });
      const file = await uploadPath(sl, src, { partSize: 5 * MiB });
      expect(file).toMatchObject({ filename: 'source.bin', size: data.length, sha256: sha(data) });

      // A partial download of the first 3 MiB: only the rest is asked for.
      const dest = path.join(dir, 'out.bin');
      await fs.writeFile(`${dest}.part`, data.subarray(0, 3 * MiB));
      const from = proxy.seen.length;
      await downloadToPath(sl, file.key, dest);
      expect((await fs.readFile(dest)).equals(data)).toBe(true);
      const gets = proxy.seen.slice(from).filter((r) => r.url.startsWith('/storage/'));
      expect(gets.map((r) => r.headers.range)).toEqual([`bytes=${3 * MiB}-`]);
      await expect(fs.stat(`${dest}.part`)).rejects.toMatchObject({ code: 'ENOENT' });

      // A partial file whose bytes are not the file's: the result fails the check and is removed.
      const bad = path.join(dir, 'bad.bin');
      await fs.writeFile(`${bad}.part`, Buffer.alloc(1024, 0x41));
      await expect(downloadToPath(sl, file.key, bad)).rejects.toMatchObject({ code: 'download_checksum_mismatch', status: 0 });
      await expect(fs.stat(bad)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.stat(`${bad}.part`)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await proxy.close();
    }
  });

  it('Node: part buffers are reused once their part is answered; a part cut and retried still sends its own bytes', async () => {
    const data = patternBytes(6 * 5 * MiB + 4321, 23);
    const src = path.join(dir, 'reuse.bin');
    await fs.writeFile(src, data);
    // The source hands a released buffer to the next read of the same length, filled anew.
    const source = await fileSource(src);
    try {
      const first = await source.read(0, 5 * MiB);
      source.release!(first);
      const second = await source.read(5 * MiB, 10 * MiB);
      expect(second).toBe(first);
      expect(Buffer.from(second).equals(data.subarray(5 * MiB, 10 * MiB))).toBe(true);
    } finally {
      await source.close();
    }
    // Seven parts two at a time through a proxy that cuts part 4 once: buffers go round while
    // a retried part keeps its own.
    const cutter = await startCuttingProxy(srv.port, 'partNumber=4 ', 1 * MiB);
    try {
      const sl = new StreamLineClient({ baseUrl: cutter.url, accessToken: token, retry: fast });
      const file = await uploadPath(sl, src, { name: 'reuse.bin', partSize: 5 * MiB, concurrency: 2 });
      expect(cutter.cuts).toBe(1);
      expect(file.sha256).toBe(sha(data));
    } finally {
      await cutter.close();
    }
  });
});
