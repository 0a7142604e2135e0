/**
 * F-17: `POST /v1/files/part` as multipart with one more file field after the part. The part
 * route reads only the first file; the rest of the body used to sit unread, curl stuck sending
 * it, until the connection timed out (the review saw the 200 after ~66 s). Now the rest is
 * drained: curl finishes at once and the connection stays usable.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { listen } from '../serve/serve-helpers.js';

let s: TestServer;
let base: string;
let work: string;

beforeAll(async () => {
  s = await startTestServer();
  ({ base } = await listen(s));
  work = await tempDir('sl-mp-extra-');
});
afterAll(async () => {
  await s.close();
  await fs.rm(work, { recursive: true, force: true });
});

describe('F-17 multipart part with an extra file field', () => {
  it('answers promptly (not after the idle timeout) and keeps exactly the part', async () => {
    const part = Buffer.from('the part bytes');
    const init = await s.asService({ method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'p.bin', size: part.length }], user_id: 'mp' } });
    expect(init.statusCode, init.body).toBe(201);
    const uploadId = init.json().uploadId as string;
    await fs.writeFile(path.join(work, 'part.bin'), part);
    await fs.writeFile(path.join(work, 'extra.bin'), Buffer.alloc(4 << 20, 7));

    const started = Date.now();
    // curl as the review ran it: it sends Expect: 100-continue for a body this size, then the whole body.
    const { stdout } = await promisify(execFile)('curl', [
      '-sS', '--fail-with-body', '--max-time', '100',
      '-H', `x-service-token: ${s.serviceToken}`,
      '-F', `uploadId=${uploadId}`, '-F', 'partNumber=1',
      '-F', `file=@${path.join(work, 'part.bin')}`, '-F', `extra=@${path.join(work, 'extra.bin')}`,
      `${base}/v1/files/part`,
    ]);
    const took = Date.now() - started;
    expect(JSON.parse(stdout)).toMatchObject({ uploadId, partNumber: 1, size: part.length });
    expect(took).toBeLessThan(10_000);
    const status = await s.asService({ method: 'GET', url: `/v1/files/upload/${uploadId}` });
    expect(status.json().parts).toMatchObject([{ partNumber: 1, size: part.length }]);
  }, 120_000);
});
