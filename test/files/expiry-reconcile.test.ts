/**
 * Abandoned uploads expire (their parts and reservation go); a completion interrupted by a
 * crash is undone at start-up by UploadService.reconcile() (object removed, upload reopened
 * with every part), and leftovers of a crash (.tmp files, unknown part folders) are removed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, complete, entries, exists, initOne, MiB, putPart, sha256, sleep, status, usage } from './upload-kit.js';

describe('expiry (UPLOAD_EXPIRY_HOURS=0.0003, about 1 s)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ UPLOAD_EXPIRY_HOURS: '0.0003' });
  });
  afterAll(async () => s.close());

  it('an idle upload expires: 404, reservation freed, parts removed', async () => {
    const id = await initOne(s, 'exp-u', { name: 'idle.bin', size: 5 * MiB + 1 }, { partSize: 5 * MiB });
    await putPart(s, id, 1, bytes(5 * MiB));
    const st = (await status(s, id)).json();
    expect(Date.parse(st.expiresAt) - Date.now()).toBeLessThanOrEqual(1080);
    expect(await entries(s, `.parts/${id}`)).toEqual(['part_000001']);
    expect(await usage(s, 'exp-u')).toMatchObject({ reservedBytes: 5 * MiB + 1 });
    await sleep(1500);
    await s.app.ctx.uploads.sweep();
    expect((await status(s, id)).statusCode).toBe(404);
    expect(await usage(s, 'exp-u')).toMatchObject({ reservedBytes: 0 });
    expect(await entries(s, '.parts')).not.toContain(id);
  });

  it('activity keeps an upload alive: each part moves its expiry forward', async () => {
    const id = await initOne(s, 'exp-a', { name: 'busy.bin', size: 2 * 5 * MiB }, { partSize: 5 * MiB });
    const first = (await status(s, id)).json().expiresAt;
    await sleep(600);
    await putPart(s, id, 1, bytes(5 * MiB));
    expect(Date.parse((await status(s, id)).json().expiresAt)).toBeGreaterThan(Date.parse(first) + 500);
    await sleep(600);
    await s.app.ctx.uploads.sweep();
    expect((await status(s, id)).statusCode).toBe(200);
  });

  it('the housekeeping timer sweeps on its own', async () => {
    const id = await initOne(s, 'exp-t', { name: 'timer.bin', size: 10 }, { mode: 'single' });
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await sleep(100);
      gone = (await status(s, id)).statusCode === 404;
    }
    expect(gone).toBe(true);
    expect(await usage(s, 'exp-t')).toMatchObject({ reservedBytes: 0 });
  });

  it('never sweeps an upload in the middle of being assembled', async () => {
    const id = await initOne(s, 'exp-asm', { name: 'asm.bin', size: 3 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('abc'));
    const { store } = s.app.ctx;
    expect(await store.uploads.beginAssembly(id, 'storage/exp-asm/0123456789abcdef0123456789abcdef_asm.bin', Date.now())).toBe(true);
    await s.app.ctx.uploads.sweep(Date.now() + 10_000);
    expect((await store.uploads.getUpload(id))?.state).toBe('assembling');
    expect(await usage(s, 'exp-asm')).toMatchObject({ reservedBytes: 3 });
  });
});

describe('UploadService.reconcile()', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('undoes a completion interrupted mid-way: object removed, upload open with its parts, a later complete works', async () => {
    const P = 5 * MiB;
    const data = bytes(P + 100);
    const id = await initOne(s, 'rec-u', { name: 'crash.bin', size: data.length }, { partSize: P });
    await putPart(s, id, 1, data.subarray(0, P));
    await putPart(s, id, 2, data.subarray(P));
    const { store, blobs, uploads } = s.app.ctx;
    // As if the process died after writing the object but before committing the record.
    const key = 'storage/rec-u/0123456789abcdef0123456789abcdef_crash.bin';
    expect(await store.uploads.beginAssembly(id, key, Date.now())).toBe(true);
    await blobs.assemble(id, await store.uploads.listParts(id), key);
    expect(await blobs.stat(key)).toMatchObject({ size: data.length });
    expect((await complete(s, id)).statusCode).toBe(409); // in progress, as far as anyone can tell

    const result = await uploads.reconcile();
    expect(result.reopened).toBe(1);
    expect(await blobs.stat(key)).toBeNull();
    const st = (await status(s, id)).json();
    expect(st).toMatchObject({ state: 'open', receivedBytes: data.length });
    expect(st.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2]);
    expect(await usage(s, 'rec-u')).toMatchObject({ reservedBytes: data.length, usedBytes: 0 });

    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json().sha256).toBe(sha256(data));
    expect((await fs.readFile(path.join(s.root, done.json().key))).equals(data)).toBe(true);
    expect(await usage(s, 'rec-u')).toMatchObject({ reservedBytes: 0, usedBytes: data.length });
  });

  it('undoes an interrupted single-part completion without losing the part', async () => {
    const id = await initOne(s, 'rec-u', { name: 'one.txt', size: 5 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('hello'));
    const { store, blobs, uploads } = s.app.ctx;
    const key = 'storage/rec-u/fedcba9876543210fedcba9876543210_one.txt';
    await store.uploads.beginAssembly(id, key, Date.now());
    await blobs.assemble(id, await store.uploads.listParts(id), key);
    await uploads.reconcile();
    expect(await blobs.stat(key)).toBeNull();
    expect(await entries(s, `.parts/${id}`)).toEqual(['part_000001']);
    expect((await complete(s, id)).json()).toMatchObject({ size: 5, sha256: sha256('hello') });
  });

  it('leaves a finished file alone and removes crash leftovers: .tmp files and part folders of no upload', async () => {
    const id = await initOne(s, 'rec-o', { name: 'keep.txt', size: 4 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('keep'));
    const rec = (await complete(s, id)).json();
    const open = await initOne(s, 'rec-o', { name: 'open.txt', size: 4 }, { mode: 'single' });
    await putPart(s, open, 1, Buffer.from('open'));
    await fs.writeFile(path.join(s.root, '.tmp', 'half-written'), 'x');
    await fs.mkdir(path.join(s.root, '.parts', 'NoSuchUpload0000'), { recursive: true });
    await fs.writeFile(path.join(s.root, '.parts', 'NoSuchUpload0000', 'part_000001'), 'x');

    const result = await s.app.ctx.uploads.reconcile();
    expect(result.orphans).toBe(2);
    expect(await entries(s, '.tmp')).toEqual([]);
    expect(await entries(s, '.parts')).not.toContain('NoSuchUpload0000');
    expect(await entries(s, `.parts/${open}`)).toEqual(['part_000001']);
    expect(await exists(path.join(s.root, rec.key))).toBe(true);
    expect((await status(s, id)).json()).toMatchObject({ state: 'completed', key: rec.key });
  });
});
