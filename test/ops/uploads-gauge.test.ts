/**
 * F-07: every /metrics scrape loaded all open upload rows to count them (100k rows: 0.9 s and
 * +76 MB). The uploads_open gauge is now one COUNT(*) in SQL.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { init } from '../files/upload-kit.js';

const METRICS_TOKEN = 'metrics-' + 'y'.repeat(24);
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ METRICS_TOKEN, MAX_OPEN_UPLOADS: '100000' });
});
afterAll(async () => s.close());

describe('F-07 the uploads_open gauge counts rows in SQL', () => {
  it('20,000 open uploads: the gauge reads 20000 and the scrape loads no upload row', async () => {
    for (let i = 0; i < 20; i++) {
      const files = Array.from({ length: 1000 }, (_, j) => ({ name: `g${i}-${j}`, size: 0 }));
      expect((await init(s, `gauge-${i % 3}`, { mode: 'batch', files })).statusCode).toBe(201);
    }
    const uploads = s.app.ctx.store.uploads;
    const loads = [vi.spyOn(uploads, 'expiredAssemblies'), vi.spyOn(uploads, 'staleUploads'), vi.spyOn(uploads, 'getUpload')];
    try {
      const started = performance.now();
      const res = await s.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const ms = performance.now() - started;
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/^uploads_open 20000$/m);
      for (const spy of loads) expect(spy).not.toHaveBeenCalled();
      console.log(`F-07 /metrics scrape with 20,000 open uploads: ${ms.toFixed(1)} ms`);
    } finally {
      for (const spy of loads) spy.mockRestore();
    }
  });
});
