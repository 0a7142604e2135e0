/**
 * F-13: a crash between writing an object and committing its record (or between deleting the
 * record and the bytes) left whole files no record names: invisible, outside the quota, never
 * reclaimed. The start-up reconcile now walks the stored objects a page at a time and removes
 * those no record names, but only when older than an hour (a younger one may be committing).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { exists, multipartBody } from './upload-kit.js';

const HOUR = 3600_000;
let root: string;
let s: TestServer;

beforeAll(async () => {
  root = await tempDir('sl-orphans-');
  s = await startTestServer({}, root);
});
afterAll(async () => {
  await s.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function upload(userId: string, filename: string, data: string): Promise<string> {
  const form = multipartBody([{ name: 'file', filename, data: Buffer.from(data) }]);
  const res = await s.asService({ method: 'POST', url: `/v1/files?user_id=${userId}`, headers: { 'content-type': form.contentType }, payload: form.body });
  expect(res.statusCode).toBe(201);
  return res.json().files[0].key as string;
}

async function plant(rel: string, ageMs: number): Promise<string> {
  const file = path.join(root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, randomBytes(64));
  await age(file, ageMs);
  return file;
}

async function age(file: string, ageMs: number): Promise<void> {
  const then = new Date(Date.now() - ageMs);
  await fs.utimes(file, then, then);
}

const id = () => randomBytes(16).toString('hex');
/** Where the disk store keeps a key too long for the file system: `.long/xx/<sha256(key)>`. */
const longPath = (key: string) => {
  const digest = createHash('sha256').update(key).digest('hex');
  return `.long/${digest.slice(0, 2)}/${digest}`;
};

describe('F-13 orphaned objects are reclaimed at start-up, by age', () => {
  it('removes old objects no record names (under storage/ and .long/), keeps recorded ones of any age and young orphans', async () => {
    const kept = await upload('orph-u', 'kept.txt', 'a record names me');
    const keptLong = await upload('orph-u', `${'L'.repeat(251)}.txt`, 'a long name, stored under a digest');
    expect(await exists(path.join(root, longPath(keptLong)))).toBe(true);
    await age(path.join(root, kept), 2 * HOUR);
    await age(path.join(root, longPath(keptLong)), 2 * HOUR);

    const oldOrphans = [
      await plant(`storage/orph-u/${id()}_lost-in-a-crash.bin`, 2 * HOUR),
      await plant(`storage/orph-u/deep/er/${id()}_deleted-record.bin`, 30 * 24 * HOUR),
      await plant(`storage/orph-v/${id()}_other-user.bin`, 61 * 60_000),
      await plant(`.long/ab/${'ab' + 'c'.repeat(62)}`, 2 * HOUR),
    ];
    const young = await plant(`storage/orph-u/${id()}_committing-right-now.bin`, 5 * 60_000);

    // A restart on the same root: reconcile runs before the first request.
    await s.close();
    s = await startTestServer({}, root);

    for (const file of oldOrphans) expect(await exists(file), file).toBe(false);
    expect(await exists(young)).toBe(true);
    for (const key of [kept, keptLong]) {
      const res = await s.app.inject({ method: 'GET', url: '/' + key.split('/').map(encodeURIComponent).join('/') });
      expect(res.statusCode, key).toBe(200);
    }
  });

  it('reports how many it removed, and a second pass finds nothing more', async () => {
    await plant(`storage/orph-w/${id()}_a.bin`, 3 * HOUR);
    await plant(`storage/orph-w/${id()}_b.bin`, 3 * HOUR);
    const first = await s.app.ctx.uploads.reconcile();
    expect(first.orphanObjects).toBe(2);
    expect((await s.app.ctx.uploads.reconcile()).orphanObjects).toBe(0);
  });

  it('pages through a big tree: 1,200 old orphans beside 300 recorded files, only the orphans go', async () => {
    const recorded: string[] = [];
    for (let i = 0; i < 300; i++) {
      const f = await s.app.ctx.files.storeObject('orph-big', { folder: `f${i % 7}`, filename: `r${i}.txt`, mime: 'text/plain' }, Readable.from([Buffer.from('x')]));
      recorded.push(f.key);
      await age(path.join(root, f.key), 2 * HOUR);
    }
    for (let i = 0; i < 1200; i++) await plant(`storage/orph-big/f${i % 7}/${id()}_o${i}.bin`, 2 * HOUR);
    const result = await s.app.ctx.uploads.reconcile();
    expect(result.orphanObjects).toBe(1200);
    for (const key of recorded) expect(await exists(path.join(root, key)), key).toBe(true);
  });
});
