/**
 * A folder move killed for real: the built server gets SIGKILL part way through moving a
 * folder (60 files on disk; 24 on S3, where each costs a few requests) once 3 have moved. Restarted
 * on the same data, every file has one record and its bytes read back under that record's
 * key; the same request then finishes the move: every file under the new path with its
 * relative path, id and bytes, nothing under the old one, quota unchanged, and no object
 * left that no record names.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeS3 } from '../helpers/s3.js';
import { processEnv, startServerProcess, type ServerProcess } from '../helpers/process.js';
import { multipartBody } from './upload-kit.js';

const USER = 'mv-kill';
const running: ServerProcess[] = [];
const roots: string[] = [];

afterAll(async () => {
  for (const p of running) p.child.kill('SIGKILL');
  for (const r of roots) await fs.rm(r, { recursive: true, force: true });
});

const contentOf = (i: number) => Buffer.from(`file ${i} `.repeat(20 + (i % 7)));
/** src/ holds files at three depths; the relative path of file i. */
const folderOf = (i: number) => ['src', 'src/a', 'src/a/b'][i % 3]!;

interface Listed {
  key: string;
  folder: string | null;
  filename: string;
  size: number;
}

async function killMidMove(label: string, count: number, overrides: () => Promise<Record<string, string>>): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-mv9-'));
  roots.push(root);
  const env = processEnv(root, await overrides());
  const svc = { 'x-service-token': env.AUTH_SERVICE_TOKEN! };
  const start = async () => {
    const p = await startServerProcess(env);
    running.push(p);
    return p;
  };
  const list = async (base: string, folder?: string): Promise<Listed[]> => {
    const res = await fetch(`${base}/v1/files/all?user_id=${USER}&limit=10000${folder ? `&folder=${folder}` : ''}`, { headers: svc });
    expect(res.status).toBe(200);
    return ((await res.json()) as { files: Listed[] }).files;
  };
  const moveAll = (base: string) =>
    fetch(`${base}/v1/files/move`, { method: 'POST', headers: { ...svc, 'content-type': 'application/json' }, body: JSON.stringify({ from: 'src', to: 'dst/moved', user_id: USER }) });

  let server = await start();
  for (let first = 0; first < count; first += 25) {
    const parts = [];
    for (let i = first; i < Math.min(count, first + 25); i++) {
      parts.push({ name: 'folder', value: folderOf(i) }, { name: 'file', filename: `f${i}.txt`, data: contentOf(i) });
    }
    const form = multipartBody(parts);
    const res = await fetch(`${server.base}/v1/files?user_id=${USER}`, { method: 'POST', headers: { ...svc, 'content-type': form.contentType }, body: form.body });
    expect(res.status, await res.clone().text()).toBe(201);
  }
  const seeded = await list(server.base);
  const usage = async (base: string) => (await (await fetch(`${base}/v1/files/usage?user_id=${USER}`, { headers: svc })).json()) as { used_bytes: number; file_count: number };
  const usageBefore = await usage(server.base);

  // Kill -9 once some files (not all) have moved.
  const inFlight = moveAll(server.base).catch(() => null);
  let movedAtKill = 0;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    movedAtKill = (await list(server.base, 'dst')).length;
    if (movedAtKill >= 3) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  server.child.kill('SIGKILL');
  await server.exited;
  expect(await inFlight, `${label}: the request must not have finished`).toBeNull();
  expect(movedAtKill, label).toBeGreaterThan(0);

  // Restarted: one record per file, each readable under its key.
  server = await start();
  const after = await list(server.base);
  expect(after.length, label).toBe(count);
  const underDst = after.filter((f) => f.folder?.startsWith('dst/')).length;
  expect(underDst, `${label}: moved before the kill`).toBeGreaterThanOrEqual(movedAtKill);
  expect(underDst, `${label}: not all moved before the kill`).toBeLessThan(count);
  const base = server.base;
  const readsBack = async (f: Listed) => {
    const i = Number(/^f(\d+)\.txt$/.exec(f.filename)![1]);
    const res = await fetch(`${base}/${f.key.split('/').map(encodeURIComponent).join('/')}`, { headers: svc });
    return res.status === 200 && Buffer.from(await res.arrayBuffer()).equals(contentOf(i));
  };
  const unreadable: string[] = [];
  for (let i = 0; i < after.length; i += 16) {
    const batch = after.slice(i, i + 16);
    (await Promise.all(batch.map(readsBack))).forEach((ok, j) => ok || unreadable.push(batch[j]!.key));
  }
  expect(unreadable, `${label}: files not readable under their record's key`).toEqual([]);

  // The same request finishes it.
  const res = await moveAll(server.base);
  expect(res.status, label).toBe(200);
  const final = await list(server.base);
  expect(final.length).toBe(count);
  const ids = new Set(seeded.map((f) => f.key.split('/').pop()));
  for (const f of final) {
    const i = Number(/^f(\d+)\.txt$/.exec(f.filename)![1]);
    expect(f.folder, f.key).toBe(folderOf(i).replace(/^src/, 'dst/moved'));
    expect(ids.has(f.key.split('/').pop()), `${f.key} keeps its id`).toBe(true);
  }
  expect(await list(server.base, 'src')).toEqual([]);
  expect(await usage(server.base)).toEqual(usageBefore);
  const sample = final[0]!;
  const bytes = await fetch(`${server.base}/${sample.key.split('/').map(encodeURIComponent).join('/')}`, { headers: svc });
  expect(bytes.status).toBe(200);
  if (!env.STORAGE_BACKEND) {
    // Every object on disk is a record's: no second name left behind by the crash.
    const onDisk = (await fs.readdir(path.join(root, 'storage', USER), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    expect(onDisk.length, label).toBe(count);
  }
  server.child.kill('SIGKILL');
  await server.exited;
}

describe('kill -9 in the middle of a folder move, then the same request', () => {
  it('local disk + SQLite: readable under one key after the crash, finished by the re-sent request', async () => {
    await killMidMove('disk', 60, async () => ({}));
  }, 90_000);
});

/** On S3 (~15 s on the shared test machine's Swift) with SL_TEST_SLOW=1; move.test.ts holds both crash points on S3 in CI. */
const SLOW = process.env.SL_TEST_SLOW === '1';

describeS3('kill -9 in the middle of a folder move on S3', () => {
  it.skipIf(!SLOW)('S3 + SQLite: readable under one key after the crash, finished by the re-sent request (SL_TEST_SLOW=1)', async () => {
    const { freshS3 } = await import('../helpers/s3.js');
    const place = await freshS3('mv9');
    await killMidMove('s3', 24, async () => place.env);
  }, 90_000);
});
