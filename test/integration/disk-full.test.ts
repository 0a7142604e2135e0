/**
 * A full disk answers 507 with nothing half-written: parts and one-request uploads run out of
 * space on a tiny tmpfs, while a completion, which copies nothing, still goes through. Needs
 * permission to mount (root on Linux); skipped elsewhere.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, complete, entries, init, initOne, MiB, multipartBody, putPart, status, usage } from '../files/upload-kit.js';

describe('a full disk', () => {
  let mountPoint = '';
  let mounted = false;
  let s: TestServer;
  beforeAll(async () => {
    mountPoint = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=13m', 'tmpfs', mountPoint], { stdio: 'ignore' });
      mounted = true;
      s = await startTestServer({}, mountPoint);
    } catch {
      mounted = false;
    }
  });
  afterAll(async () => {
    if (mounted) {
      await s.close();
      execFileSync('umount', [mountPoint]);
    }
    await fs.rm(mountPoint, { recursive: true, force: true });
  });

  it('507 for a part that does not fit and for a one-request upload, nothing half-written; a completion needs no room', async (ctx) => {
    if (!mounted) ctx.skip();
    const P = 5 * MiB;
    // Two parts fit (10 MiB); the disk is then too full for a third part's worth.
    const id = await initOne(s, 'full-u', { name: 'big.bin', size: 2 * P }, { partSize: P });
    expect((await putPart(s, id, 1, bytes(P))).statusCode).toBe(200);
    expect((await putPart(s, id, 2, bytes(P))).statusCode).toBe(200);

    const other = await initOne(s, 'full-u', { name: 'more.bin', size: P }, { mode: 'single' });
    const part = await putPart(s, other, 1, bytes(P));
    expect(part.statusCode).toBe(507);
    expect(part.json()).toMatchObject({ statusCode: 507, code: 'insufficient_storage' });
    expect((await status(s, other)).json().parts).toEqual([]);
    expect(await entries(s, '.tmp')).toEqual([]);

    const form = multipartBody([{ name: 'file', filename: 'f.bin', data: bytes(4 * MiB) }]);
    const one = await s.asService({ method: 'POST', url: '/v1/files?user_id=full-v', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(one.statusCode).toBe(507);
    expect(await usage(s, 'full-v')).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect(await entries(s, 'storage/full-v')).toEqual([]);
    expect(await entries(s, '.tmp')).toEqual([]);

    // The completion goes through on the full disk: it copies nothing (the parts' data file is
    // linked to the key), only its record needs room.
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    expect(done.json()).toMatchObject({ size: 2 * P });
    expect(await entries(s, '.tmp')).toEqual([]);

    // Space freed (the file deleted): the other one completes.
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${encodeURI(done.json().key)}` })).statusCode).toBe(200);
    expect((await putPart(s, other, 1, bytes(P))).statusCode).toBe(200);
    expect((await complete(s, other)).statusCode).toBe(201);
  });

  it('507, not 500, when the database itself has no room to write (SQLITE_FULL); writes work again once there is room', async (ctx) => {
    if (!mounted) ctx.skip();
    // Fill what is left of the volume with one file, then make records until one does not fit.
    const filler = path.join(mountPoint, 'filler');
    const chunk = Buffer.alloc(64 * 1024);
    const fh = await fs.open(filler, 'w');
    try {
      for (;;) await fh.write(chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await fh.close();
    }
    let refused: Awaited<ReturnType<typeof init>> | undefined;
    let made = 0;
    // Each init writes an upload row (a long name: more pages); the WAL must grow at some point.
    for (; made < 5000 && !refused; made++) {
      const res = await init(s, 'full-db', { mode: 'single', files: [{ name: `${'n'.repeat(200)}-${made}.bin`, size: 1 }] });
      if (res.statusCode !== 201) refused = res;
    }
    expect(refused, `${made} records fitted`).toBeDefined();
    expect(refused!.statusCode, refused!.body).toBe(507);
    expect(refused!.json()).toMatchObject({ code: 'insufficient_storage' });
    await fs.rm(filler);
    expect((await init(s, 'full-db', { mode: 'single', files: [{ name: 'after.bin', size: 1 }] })).statusCode).toBe(201);
  });
});
