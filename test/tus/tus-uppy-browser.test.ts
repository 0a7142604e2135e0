/**
 * Uppy (@uppy/core + @uppy/tus, bundled with esbuild as a web app ships it) in Chromium against
 * /v1/tus/. The page is served from another origin (a tiny HTTP server on its own port, named in
 * CORS_ORIGINS), so every tus request is cross-origin: the tus headers must be allowed and
 * exposed by CORS or tus-js-client cannot read Location and Upload-Offset. Files are built from
 * the same xorshift bytes on both sides; the test downloads each and compares SHA-256.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes } from '../client/sdk-kit.js';
import { launchChromium } from '../serve/browser-kit.js';
import { bearer, download, MiB, startTusServer, type TusServer } from './tus-kit.js';

let t: TusServer;
let browser: Browser;
let pageServer: http.Server;
let pageOrigin: string;

beforeAll(async () => {
  const bundle = await build({
    stdin: { contents: `import Uppy from '@uppy/core'; import Tus from '@uppy/tus'; globalThis.Uppy = Uppy; globalThis.Tus = Tus;`, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  const pages: Record<string, [string, string]> = {
    '/': ['text/html', `<!doctype html><title>uppy</title><script type="module" src="/uppy.js"></script>`],
    '/uppy.js': ['text/javascript', bundle.outputFiles[0]!.text],
  };
  pageServer = http.createServer((req, res) => {
    const page = pages[req.url ?? ''];
    if (page) res.writeHead(200, { 'content-type': page[0] }).end(page[1]);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  t = await startTusServer({ CORS_ORIGINS: pageOrigin });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  pageServer?.closeAllConnections();
  await new Promise((resolve) => pageServer?.close(resolve));
  await t?.s.close();
});

interface FileSpec {
  name: string;
  size: number;
  seed: number;
  /** tus-js-client's parallelUploads for this file (Uppy's per-file `tus` options). */
  parallelUploads?: number;
}

interface RunArgs {
  endpoint: string;
  headers: Record<string, string>;
  withCredentials: boolean;
  chunkSize: number;
  files: FileSpec[];
  /** Pause the upload (uppy.pauseResume) once this many bytes went, read HEAD, then resume it. */
  pauseAt?: number;
  /** Log in with a cookie session first: POST {base}/auth/login from the page. */
  login?: { base: string; username: string; password: string };
}

/** One tus exchange as tus-js-client saw it (through XHR: only exposed headers are readable). */
interface Exchange {
  method: string;
  status: number;
  sentOffset: string | null;
  location: string | null;
  offset: string | null;
  tusResumable: string | null;
}

// Structural types for what the page uses of Uppy (the test tsconfig has no DOM library).
interface UppyFile {
  id: string;
  name: string;
  tus?: { uploadUrl?: string };
}
interface UppyLike {
  use(plugin: unknown, opts: Record<string, unknown>): UppyLike;
  addFile(f: { name: string; type: string; data: Blob }): string;
  setFileState(id: string, state: Record<string, unknown>): void;
  getFile(id: string): UppyFile;
  on(event: 'upload-progress', cb: (file: UppyFile, p: { bytesUploaded: number }) => void): void;
  pauseResume(id: string): boolean | undefined;
  upload(): Promise<{ successful?: UppyFile[]; failed?: (UppyFile & { error?: string })[] }>;
}
interface TusReq {
  getMethod(): string;
  getHeader(name: string): string | null | undefined;
}
interface TusRes {
  getStatus(): number;
  getHeader(name: string): string | null | undefined;
}

/** Runs in the page: builds the files, uploads them with Uppy + Tus, reports what it saw. */
async function uppyRun(args: RunArgs) {
  const g = globalThis as unknown as { Uppy: new (o: Record<string, unknown>) => UppyLike; Tus: unknown };
  const bytes = (size: number, seed: number): Uint8Array => {
    const out = new Uint8Array(size);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
  let login: number | undefined;
  if (args.login) {
    const { base, username, password } = args.login;
    const res = await fetch(`${base}/auth/login`, { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password, session: 'cookie' }) });
    login = res.status;
  }
  const exchanges: Exchange[] = [];
  const uppy = new g.Uppy({ autoProceed: false }).use(g.Tus, {
    endpoint: args.endpoint,
    headers: args.headers,
    withCredentials: args.withCredentials,
    chunkSize: args.chunkSize,
    retryDelays: [],
    limit: 3,
    onAfterResponse: (req: TusReq, res: TusRes) => {
      exchanges.push({
        method: req.getMethod(),
        status: res.getStatus(),
        sentOffset: req.getHeader('Upload-Offset') ?? null,
        location: res.getHeader('Location') ?? null,
        offset: res.getHeader('Upload-Offset') ?? null,
        tusResumable: res.getHeader('Tus-Resumable') ?? null,
      });
    },
  });
  for (const f of args.files) {
    const id = uppy.addFile({ name: f.name, type: 'application/octet-stream', data: new Blob([bytes(f.size, f.seed)]) });
    if (f.parallelUploads) uppy.setFileState(id, { tus: { parallelUploads: f.parallelUploads } });
  }
  let pause: { at: number; headStatus: number; headOffset: string | null; exchangesBefore: number } | undefined;
  if (args.pauseAt !== undefined) {
    const pauseAt = args.pauseAt;
    uppy.on('upload-progress', (file, p) => {
      if (pause || p.bytesUploaded < pauseAt) return;
      pause = { at: p.bytesUploaded, headStatus: 0, headOffset: null, exchangesBefore: 0 };
      uppy.pauseResume(file.id);
      setTimeout(() => {
        // While paused, the page reads the offset itself: fetch also sees the exposed header.
        const url = uppy.getFile(file.id).tus?.uploadUrl ?? '';
        void fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', ...args.headers } }).then((res) => {
          pause!.headStatus = res.status;
          pause!.headOffset = res.headers.get('Upload-Offset');
          pause!.exchangesBefore = exchanges.length;
          uppy.pauseResume(file.id);
        });
      }, 300);
    });
  }
  const result = await uppy.upload();
  return {
    login,
    successful: (result.successful ?? []).map((f) => f.name).sort(),
    failed: (result.failed ?? []).map((f) => `${f.name}: ${String(f.error)}`),
    exchanges,
    pause,
  };
}

async function openPage(): Promise<Page> {
  // A new context per page: its own localStorage, so tus-js-client finds no earlier upload to resume.
  const page = await browser.newPage();
  await page.goto(pageOrigin + '/');
  await page.waitForFunction(() => 'Tus' in globalThis);
  return page;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function expectStored(token: string, files: FileSpec[]): Promise<void> {
  for (const f of files) {
    const { data, record } = await download(t, token, f.name);
    expect(sha256(data), f.name).toBe(sha256(patternBytes(f.size, f.seed)));
    expect(record).toMatchObject({ size: f.size, sha256: sha256(data) });
  }
}

describe('Uppy in Chromium against /v1/tus/ (page on another origin, CORS)', () => {
  it('uploads three files with a Bearer header: chunks smaller than a part, one file over 8 MiB, one in parallel partials', async () => {
    const token = await t.s.tokenFor('uppy-bearer');
    const files: FileSpec[] = [
      { name: 'small.bin', size: 3 * MiB + 5, seed: 11 },
      { name: 'big.bin', size: 11 * MiB + 7, seed: 12 },
      { name: 'parallel.bin', size: 9 * MiB + 3, seed: 13, parallelUploads: 2 },
    ];
    const page = await openPage();
    try {
      const out = await page.evaluate(uppyRun, { endpoint: t.endpoint, headers: bearer(token), withCredentials: false, chunkSize: 3 * MiB + 1, files });
      expect(out.failed).toEqual([]);
      expect(out.successful).toEqual(['big.bin', 'parallel.bin', 'small.bin']);
      // What CORS must expose for tus-js-client to work at all, read through XHR.
      const posts = out.exchanges.filter((e) => e.method === 'POST');
      expect(posts.length).toBe(1 + 1 + 3); // small, big, two partials and the final
      expect(posts.every((e) => e.status === 201 && e.location?.startsWith(`${t.base}/v1/tus/`))).toBe(true);
      const patches = out.exchanges.filter((e) => e.method === 'PATCH');
      expect(patches.length).toBeGreaterThanOrEqual(2 + 4 + 2); // 3 MiB chunks: 2 + 4 + (2 partials × ≥ 1)
      expect(patches.every((e) => e.status === 204 && Number(e.offset) > 0)).toBe(true);
      expect(out.exchanges.every((e) => e.tusResumable === '1.0.0')).toBe(true);
    } finally {
      await page.close();
    }
    await expectStored(token, files);
  });

  it('pauses an upload mid-way (uppy.pauseResume) and resumes it from the offset the server kept', async () => {
    const token = await t.s.tokenFor('uppy-pause');
    const files: FileSpec[] = [{ name: 'paused.bin', size: 9 * MiB + 9, seed: 21 }];
    const page = await openPage();
    try {
      const out = await page.evaluate(uppyRun, { endpoint: t.endpoint, headers: bearer(token), withCredentials: false, chunkSize: 2 * MiB, files, pauseAt: 3 * MiB });
      expect(out.failed).toEqual([]);
      expect(out.successful).toEqual(['paused.bin']);
      expect(out.pause?.headStatus).toBe(200);
      const kept = Number(out.pause?.headOffset);
      expect(kept).toBeGreaterThanOrEqual(2 * MiB);
      expect(kept).toBeLessThan(files[0]!.size);
      // The resume asks the offset (HEAD) and sends from there, never from 0.
      const after = out.exchanges.slice(out.pause!.exchangesBefore);
      expect(after[0]).toMatchObject({ method: 'HEAD', status: 200, offset: String(kept) });
      expect(after[1]).toMatchObject({ method: 'PATCH', sentOffset: String(kept) });
      expect(after.some((e) => e.method === 'POST')).toBe(false);
    } finally {
      await page.close();
    }
    await expectStored(token, files);
  });

  it('uploads with a cookie session (login from the page, withCredentials, no token in the script)', async () => {
    const files: FileSpec[] = [{ name: 'cookie.bin', size: 2 * MiB + 1, seed: 31 }];
    const page = await openPage();
    try {
      const login = { base: t.base, username: 'admin', password: t.s.adminPassword };
      const out = await page.evaluate(uppyRun, { endpoint: t.endpoint, headers: {}, withCredentials: true, chunkSize: 1 * MiB, files, login });
      expect(out.login).toBe(200);
      expect(out.failed).toEqual([]);
      expect(out.successful).toEqual(['cookie.bin']);
    } finally {
      await page.close();
    }
    await expectStored(await t.s.adminToken(), files);
  });
});
