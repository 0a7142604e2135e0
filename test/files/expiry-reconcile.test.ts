/**
 * Abandoned uploads expire (their parts and reservation go); a completion whose instance died
 * is reclaimed once its lease runs out (object removed, upload reopened with every part), and
 * upload areas no record names are removed. Time is a ManualClock moved by the tests; every
 * assertion goes through the API and the ports, so the suite runs on any BlobStore.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSEMBLY_LEASE_MS } from '../../src/files/upload-completion.js';
import { ORPHAN_AREA_MIN_AGE_MS } from '../../src/files/upload-housekeeping.js';
import { ManualClock } from '../../src/util/clock.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, complete, eventually, initOne, MiB, putPart, sha256, status, storedBytes, uploadAreaIds, usage } from './upload-kit.js';

const EXPIRY_MS = 3600_000; // UPLOAD_EXPIRY_HOURS=1

describe('expiry (UPLOAD_EXPIRY_HOURS=1, on a manual clock)', () => {
  let s: TestServer;
  const clock = new ManualClock();
  beforeAll(async () => {
    s = await startTestServer({ UPLOAD_EXPIRY_HOURS: '1' }, undefined, { clock });
  });
  afterAll(async () => s.close());

  it('an idle upload expires: 404, reservation freed, parts removed', async () => {
    const id = await initOne(s, 'exp-u', { name: 'idle.bin', size: 5 * MiB + 1 }, { partSize: 5 * MiB });
    expect((await putPart(s, id, 1, bytes(5 * MiB))).statusCode).toBe(200);
    expect(Date.parse((await status(s, id)).json().expiresAt)).toBe(clock.now() + EXPIRY_MS);
    expect(await uploadAreaIds(s)).toContain(id);
    expect(await usage(s, 'exp-u')).toMatchObject({ reservedBytes: 5 * MiB + 1 });
    clock.advance(EXPIRY_MS - 1);
    expect(await s.app.ctx.uploads.sweep()).toBe(0); // not yet
    clock.advance(2);
    expect(await s.app.ctx.uploads.sweep()).toBe(1);
    expect((await status(s, id)).statusCode).toBe(404);
    expect(await usage(s, 'exp-u')).toMatchObject({ reservedBytes: 0 });
    expect(await uploadAreaIds(s)).not.toContain(id);
  });

  it('activity keeps an upload alive: each part moves its expiry forward', async () => {
    const id = await initOne(s, 'exp-a', { name: 'busy.bin', size: 2 * 5 * MiB }, { partSize: 5 * MiB });
    const first = Date.parse((await status(s, id)).json().expiresAt);
    clock.advance(EXPIRY_MS * 0.6);
    await putPart(s, id, 1, bytes(5 * MiB));
    expect(Date.parse((await status(s, id)).json().expiresAt)).toBe(first + EXPIRY_MS * 0.6);
    clock.advance(EXPIRY_MS * 0.6); // past the first expiry, not the second
    await s.app.ctx.uploads.sweep();
    expect((await status(s, id)).statusCode).toBe(200);
  });

  it('never sweeps an upload in the middle of being assembled under a live lease', async () => {
    const id = await initOne(s, 'exp-asm', { name: 'asm.bin', size: 3 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('abc'));
    const { store } = s.app.ctx;
    const key = 'storage/exp-asm/0123456789abcdef0123456789abcdef_asm.bin';
    expect(await store.uploads.beginAssembly(id, key, clock.now(), clock.now() + 100 * EXPIRY_MS)).toBe(true);
    clock.advance(10 * EXPIRY_MS);
    await s.app.ctx.uploads.sweep();
    expect((await store.uploads.getUpload(id))?.state).toBe('assembling');
    expect(await usage(s, 'exp-asm')).toMatchObject({ reservedBytes: 3 });
  });
});

describe('the housekeeping timer (UPLOAD_EXPIRY_HOURS=0.0003: it runs every second)', () => {
  let s: TestServer;
  const clock = new ManualClock();
  beforeAll(async () => {
    s = await startTestServer({ UPLOAD_EXPIRY_HOURS: '0.0003' }, undefined, { clock });
  });
  afterAll(async () => s.close());

  it('sweeps on its own, by the clock it was given', async () => {
    const id = await initOne(s, 'exp-t', { name: 'timer.bin', size: 10 }, { mode: 'single' });
    clock.advance(2000);
    expect(await eventually(async () => (await status(s, id)).statusCode === 404, 5000)).toBe(true);
    expect(await usage(s, 'exp-t')).toMatchObject({ reservedBytes: 0 });
  });
});

describe('completions whose instance died, and orphan upload areas', () => {
  let s: TestServer;
  const clock = new ManualClock();
  beforeAll(async () => {
    s = await startTestServer({}, undefined, { clock });
  });
  afterAll(async () => s.close());

  /** As if an instance died after writing the object but before committing the record. */
  async function interruptedCompletion(id: string, key: string): Promise<void> {
    const { store, blobs } = s.app.ctx;
    const upload = (await store.uploads.getUpload(id))!;
    expect(await store.uploads.beginAssembly(id, key, clock.now(), clock.now() + ASSEMBLY_LEASE_MS)).toBe(true);
    await blobs.assemble({ uploadId: id, ref: upload.blobRef }, await store.uploads.listParts(id), key);
    expect(await blobs.stat(key)).not.toBeNull();
  }

  it('the sweep reclaims it once the lease runs out: object removed, upload open with its parts, a later complete works', async () => {
    const P = 5 * MiB;
    const data = bytes(P + 100);
    const id = await initOne(s, 'rec-u', { name: 'crash.bin', size: data.length }, { partSize: P });
    await putPart(s, id, 1, data.subarray(0, P));
    await putPart(s, id, 2, data.subarray(P));
    const key = 'storage/rec-u/0123456789abcdef0123456789abcdef_crash.bin';
    await interruptedCompletion(id, key);
    expect((await status(s, id)).json().state).toBe('assembling'); // in progress, as far as anyone can tell
    expect((await s.app.ctx.uploads.reconcile()).reopened).toBe(0); // the lease is live: maybe another instance

    clock.advance(ASSEMBLY_LEASE_MS);
    expect((await s.app.ctx.uploads.reconcile()).reopened).toBe(1);
    expect(await storedBytes(s, key)).toBeNull();
    const st = (await status(s, id)).json();
    expect(st).toMatchObject({ state: 'open', receivedBytes: data.length });
    expect(st.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2]);
    expect(await usage(s, 'rec-u')).toMatchObject({ reservedBytes: data.length, usedBytes: 0 });

    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json().sha256).toBe(sha256(data));
    expect((await storedBytes(s, done.json().key))!.equals(data)).toBe(true);
    expect(await usage(s, 'rec-u')).toMatchObject({ reservedBytes: 0, usedBytes: data.length });
  });

  it('a complete that meets a live lease waits for it; when the lease runs out it takes the upload over (single part: the part survives)', async () => {
    const id = await initOne(s, 'rec-w', { name: 'wait.txt', size: 5 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('hello'));
    const key = 'storage/rec-w/abcdefabcdefabcdefabcdefabcdefab_wait.txt';
    await interruptedCompletion(id, key);
    let answered = false;
    const waiting = complete(s, id).finally(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 300)); // several polls of the lease
    expect(answered).toBe(false);
    clock.advance(ASSEMBLY_LEASE_MS); // the other attempt's instance never renewed: it died
    const done = await waiting;
    expect(done.statusCode).toBe(201);
    expect(done.json()).toMatchObject({ size: 5, sha256: sha256('hello') });
    expect(await storedBytes(s, key)).toBeNull(); // the dead attempt's object
    expect((await storedBytes(s, done.json().key))!.toString()).toBe('hello');
  });

  it('a complete after the lease ran out takes the upload over at once (single part: the part survives)', async () => {
    const id = await initOne(s, 'rec-u', { name: 'one.txt', size: 5 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('hello'));
    const key = 'storage/rec-u/fedcba9876543210fedcba9876543210_one.txt';
    await interruptedCompletion(id, key);
    clock.advance(ASSEMBLY_LEASE_MS);
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json()).toMatchObject({ size: 5, sha256: sha256('hello') });
    expect(await storedBytes(s, key)).toBeNull(); // the dead attempt's object
    expect((await storedBytes(s, done.json().key))!.toString()).toBe('hello');
  });

  it('leaves finished files and open uploads alone; removes upload areas no record names once old enough', async () => {
    const id = await initOne(s, 'rec-o', { name: 'keep.txt', size: 4 }, { mode: 'single' });
    await putPart(s, id, 1, Buffer.from('keep'));
    const rec = (await complete(s, id)).json();
    const open = await initOne(s, 'rec-o', { name: 'open.txt', size: 4 }, { mode: 'single' });
    await putPart(s, open, 1, Buffer.from('open'));
    // An area whose record never came (an init that died, or a part that outlived its abort).
    const { blobs } = s.app.ctx;
    const stray = await blobs.beginUpload('NoSuchUpload0000', { size: 1, partSize: 1, mime: 'text/plain' });
    await blobs.writePart(stray, 1, (await import('node:stream')).Readable.from([Buffer.from('x')]), { maxBytes: 1 });

    expect((await s.app.ctx.uploads.reconcile()).orphans).toBe(0); // too young: its init may be committing
    expect(await uploadAreaIds(s)).toContain('NoSuchUpload0000');
    clock.advance(ORPHAN_AREA_MIN_AGE_MS + 1000);
    expect((await s.app.ctx.uploads.reconcile()).orphans).toBeGreaterThanOrEqual(1);
    expect(await uploadAreaIds(s)).not.toContain('NoSuchUpload0000');
    expect(await uploadAreaIds(s)).toContain(open);
    expect((await storedBytes(s, rec.key))!.toString()).toBe('keep');
    expect((await status(s, id)).json()).toMatchObject({ state: 'completed', key: rec.key });
    expect((await complete(s, open)).statusCode).toBe(201);
  });
});
