/**
 * A full disk answers 507 with nothing half-written: parts, one-request uploads and the
 * assembly of a completion all run out of space on a tiny tmpfs. Needs permission to mount
 * (root on Linux); skipped elsewhere.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, complete, entries, initOne, MiB, multipartBody, putPart, status, usage } from '../files/upload-kit.js';

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

  it('507 for a part that does not fit, for a one-request upload, and for an assembly; nothing half-written', async (ctx) => {
    if (!mounted) ctx.skip();
    const P = 5 * MiB;
    // Two parts fit (10 MiB); a third copy of their bytes, the assembled file, does not.
    const id = await initOne(s, 'full-u', { name: 'big.bin', size: 2 * P }, { partSize: P });
    expect((await putPart(s, id, 1, bytes(P))).statusCode).toBe(200);
    expect((await putPart(s, id, 2, bytes(P))).statusCode).toBe(200);

    const assembled = await complete(s, id);
    expect(assembled.statusCode).toBe(507);
    expect(assembled.json()).toMatchObject({ statusCode: 507, code: 'insufficient_storage' });
    expect((await status(s, id)).json()).toMatchObject({ state: 'open', receivedBytes: 2 * P });
    expect(await entries(s, 'storage/full-u')).toEqual([]);
    expect(await entries(s, '.tmp')).toEqual([]);

    const other = await initOne(s, 'full-u', { name: 'more.bin', size: P }, { mode: 'single' });
    const part = await putPart(s, other, 1, bytes(P));
    expect(part.statusCode).toBe(507);
    expect((await status(s, other)).json().parts).toEqual([]);
    expect(await entries(s, '.tmp')).toEqual([]);

    const form = multipartBody([{ name: 'file', filename: 'f.bin', data: bytes(4 * MiB) }]);
    const one = await s.asService({ method: 'POST', url: '/v1/files?user_id=full-v', headers: { 'content-type': form.contentType }, payload: form.body });
    expect(one.statusCode).toBe(507);
    expect(await usage(s, 'full-v')).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect(await entries(s, 'storage/full-v')).toEqual([]);
    expect(await entries(s, '.tmp')).toEqual([]);

    // Space freed (the open upload aborted): the other one completes.
    await s.asService({ method: 'DELETE', url: `/v1/files/upload/${id}` });
    expect((await putPart(s, other, 1, bytes(P))).statusCode).toBe(200);
    expect((await complete(s, other)).statusCode).toBe(201);
  });
});
