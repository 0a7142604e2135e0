/**
 * F-13: a crash between writing an object and committing its record (or between deleting the
 * record and the bytes) left whole files no record names: invisible, outside the quota, never
 * reclaimed. The start-up reconcile now walks the stored objects a page at a time and removes
 * those no record names, but only when older than an hour (a younger one may be committing).
 * Orphans are written through the BlobStore port (bytes and no record, as a crash leaves them)
 * and time is a ManualClock moved past the hour, so the suite runs on any store.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ORPHAN_MIN_AGE_MS } from '../../src/files/upload-housekeeping.js';
import { ManualClock } from '../../src/util/clock.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { multipartBody } from './upload-kit.js';

const HOUR = 3600_000;
const clock = new ManualClock();
let root: string;
let s: TestServer;

beforeAll(async () => {
  root = await tempDir('sl-orphans-');
  s = await startTestServer({}, root, { clock });
});
afterAll(async () => {
  await s.close();
  await fs.rm(root, { recursive: true, force: true });
});

/** A restart on the same root and clock: reconcile runs before the first request. */
async function restart(): Promise<void> {
  await s.close();
  s = await startTestServer({}, root, { clock });
}

async function upload(userId: string, filename: string, data: string): Promise<string> {
  const form = multipartBody([{ name: 'file', filename, data: Buffer.from(data) }]);
  const res = await s.asService({ method: 'POST', url: `/v1/files?user_id=${userId}`, headers: { 'content-type': form.contentType }, payload: form.body });
  expect(res.statusCode).toBe(201);
  return res.json().files[0].key as string;
}

/** Bytes under `key` with no record naming them. */
async function orphan(key: string): Promise<string> {
  await s.app.ctx.blobs.writeObject(key, Readable.from([randomBytes(64)]), { maxBytes: 64 });
  return key;
}

const stored = async (key: string): Promise<boolean> => (await s.app.ctx.blobs.stat(key)) !== null;
const id = () => randomBytes(16).toString('hex');

describe('F-13 orphaned objects are reclaimed at start-up, by age', () => {
  // The store dates its objects by its own clock (on disk: mtime, wall time); the test clock
  // moves the cut-off. Each test starts with the two lined up.
  beforeEach(() => clock.set(Date.now()));

  it('removes old objects no record names (long keys included), keeps recorded ones of any age and young orphans', async () => {
    const kept = await upload('orph-u', 'kept.txt', 'a record names me');
    // 288 bytes in one segment: a key the disk store keeps under a digest (.long/).
    const keptLong = await upload('orph-u', `${'L'.repeat(251)}.txt`, 'a long name, stored under a digest');
    const orphans = [
      await orphan(`storage/orph-u/${id()}_lost-in-a-crash.bin`),
      await orphan(`storage/orph-u/deep/er/${id()}_deleted-record.bin`),
      await orphan(`storage/orph-v/${id()}_other-user.bin`),
      await orphan(`storage/orph-u/${id()}_${'O'.repeat(251)}.bin`),
    ];

    // Young: any of them may belong to an upload committing its record right now.
    await restart();
    for (const key of orphans) expect(await stored(key), key).toBe(true);
    clock.advance(ORPHAN_MIN_AGE_MS - 60_000);
    await restart();
    for (const key of orphans) expect(await stored(key), key).toBe(true);

    clock.advance(2 * HOUR);
    await restart();
    for (const key of orphans) expect(await stored(key), key).toBe(false);
    for (const key of [kept, keptLong]) {
      const res = await s.app.inject({ method: 'GET', url: '/' + key.split('/').map(encodeURIComponent).join('/') });
      expect(res.statusCode, key).toBe(200);
    }
  });

  it('reports how many it removed, and a second pass finds nothing more', async () => {
    await orphan(`storage/orph-w/${id()}_a.bin`);
    await orphan(`storage/orph-w/${id()}_b.bin`);
    expect((await s.app.ctx.uploads.reconcile()).orphanObjects).toBe(0); // too young
    clock.advance(2 * HOUR);
    expect((await s.app.ctx.uploads.reconcile()).orphanObjects).toBe(2);
    expect((await s.app.ctx.uploads.reconcile()).orphanObjects).toBe(0);
  });

  it('pages through a big tree: 1,200 old orphans beside 300 recorded files, only the orphans go', async () => {
    const recorded: string[] = [];
    for (let i = 0; i < 300; i++) {
      const f = await s.app.ctx.files.storeObject('orph-big', { folder: `f${i % 7}`, filename: `r${i}.txt`, mime: 'text/plain' }, Readable.from([Buffer.from('x')]));
      recorded.push(f.key);
    }
    for (let i = 0; i < 1200; i++) await orphan(`storage/orph-big/f${i % 7}/${id()}_o${i}.bin`);
    clock.advance(2 * HOUR);
    const result = await s.app.ctx.uploads.reconcile();
    expect(result.orphanObjects).toBe(1200);
    for (const key of recorded) expect(await stored(key), key).toBe(true);
  });
});
