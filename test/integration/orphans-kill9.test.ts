/**
 * F-13 for real: the built server is killed with SIGKILL while one-request uploads and deletes
 * are in flight, which leaves whole objects that no record names (the review counted 31 after
 * 8 crashes). The files are then aged past the orphan threshold (as if the restart came an
 * hour later) and the server restarted on the same root: afterwards every object on disk is
 * named by a record, and every record's object is there.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBody } from '../files/upload-kit.js';
import { processEnv, startServerProcess, type ServerProcess } from '../helpers/process.js';

const USER = 'crash-o';
let root: string;
let env: Record<string, string>;
let server: ServerProcess | null = null;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-orph9-'));
  env = processEnv(root);
});
afterAll(async () => {
  if (server) await kill9(server);
  await fs.rm(root, { recursive: true, force: true });
});

async function kill9(p: ServerProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
  server = null;
}

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (entry.isFile()) yield full;
  }
}

async function recordedKeys(base: string): Promise<Set<string>> {
  const res = await fetch(`${base}/v1/files/all?user_id=${USER}&limit=10000`, { headers: { 'x-service-token': env.AUTH_SERVICE_TOKEN! } });
  expect(res.status).toBe(200);
  return new Set(((await res.json()) as { files: { key: string }[] }).files.map((f) => f.key));
}

/** Uploads (3 files of 256 KiB a request) and deletes in loops until `stop` is set. */
async function traffic(base: string, stop: { now: boolean }): Promise<void> {
  const svc = { 'x-service-token': env.AUTH_SERVICE_TOKEN! };
  const uploader = async (n: number) => {
    for (let i = 0; !stop.now; i++) {
      const form = multipartBody([1, 2, 3].map((j) => ({ name: `f${j}`, filename: `u${n}-${i}-${j}.bin`, data: Buffer.alloc(256 * 1024, n + j) })));
      await fetch(`${base}/v1/files?user_id=${USER}`, { method: 'POST', headers: { ...svc, 'content-type': form.contentType }, body: form.body }).catch(() => undefined);
    }
  };
  const deleter = async () => {
    while (!stop.now) {
      const keys = [...(await recordedKeys(base).catch(() => new Set<string>()))].slice(0, 5);
      for (const key of keys) {
        await fetch(`${base}/v1/files/${key.split('/').map(encodeURIComponent).join('/')}`, { method: 'DELETE', headers: svc }).catch(() => undefined);
      }
    }
  };
  await Promise.all([...Array.from({ length: 8 }, (_, n) => uploader(n)), deleter(), deleter(), deleter()]);
}

describe('F-13 kill -9 during one-request uploads and deletes, restart an hour later', () => {
  it('after each of 4 crashes and restarts, the objects on disk and the records match exactly', async () => {
    for (let round = 0; round < 4; round++) {
      server = await startServerProcess(env);
      const stop = { now: false };
      const running = traffic(server.base, stop);
      await new Promise((resolve) => setTimeout(resolve, 400 + round * 300)); // let traffic build up
      await kill9(server);
      stop.now = true;
      await running;

      // An hour later: every object is older than the orphan threshold.
      const then = new Date(Date.now() - 2 * 3600_000);
      for await (const file of files(path.join(root, 'storage'))) await fs.utimes(file, then, then);

      server = await startServerProcess(env);
      const onDisk = new Set<string>();
      for await (const file of files(path.join(root, 'storage'))) onDisk.add(path.relative(root, file).split(path.sep).join('/'));
      const recorded = await recordedKeys(server.base);
      expect([...onDisk].filter((k) => !recorded.has(k)), `round ${round}: objects no record names`).toEqual([]);
      expect([...recorded].filter((k) => !onDisk.has(k)), `round ${round}: records without bytes`).toEqual([]);
      await kill9(server);
    }
  }, 120_000);
});
