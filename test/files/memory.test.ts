/**
 * Memory stays flat whatever the file size: a 256 MiB part streamed over a real socket to
 * the in-process server must not grow this process's RSS by more than ~96 MiB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { complete, generated, generatedSha256, initOne, listen, MiB, request } from './upload-kit.js';

describe('memory', () => {
  let s: TestServer;
  let port: number;
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
  });
  afterAll(async () => s.close());

  it('a 256 MiB raw part streams through with RSS growth under 96 MiB', async () => {
    const size = 256 * MiB;
    const id = await initOne(s, 'mem-u', { name: 'big.bin', size }, { mode: 'single' });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    try {
      const res = await request(port, {
        method: 'PUT',
        path: `/v1/files/part?uploadId=${id}&partNumber=1`,
        headers: { 'x-service-token': s.serviceToken, 'content-type': 'application/octet-stream', 'content-length': size },
        body: generated(size, 256 * 1024),
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ size, sha256: generatedSha256(size, 256 * 1024) });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = peak - baseline;
    expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(96 * MiB);

    const rec = (await complete(s, id)).json();
    expect((await s.app.ctx.blobs.stat(rec.key))?.size).toBe(size);
  });
});
