/**
 * F-07: the expiry sweep and the start-up reconcile loaded every matching row (100k open
 * uploads at a time). They now page through rows (at most 500 per query) and ask about part
 * folders a page at a time; the results are unchanged.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { ORPHAN_AREA_MIN_AGE_MS } from '../../src/files/upload-housekeeping.js';
import { init, uploadAreaIds, usage } from './upload-kit.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ MAX_OPEN_UPLOADS: '5000' });
});
afterAll(async () => s.close());

async function openUploads(userId: string, count: number, size: number): Promise<string[]> {
  const ids: string[] = [];
  for (let made = 0; made < count; made += 600) {
    const n = Math.min(600, count - made);
    const res = await init(s, userId, { mode: 'batch', files: Array.from({ length: n }, (_, i) => ({ name: `p${made + i}`, size })) });
    expect(res.statusCode).toBe(201);
    ids.push(...res.json().uploads.map((u: { uploadId: string }) => u.uploadId));
  }
  return ids;
}

describe('F-07 housekeeping pages through uploads instead of loading them all', () => {
  it('the sweep removes 1200 expired uploads in pages of at most 500 rows; reservations and open counts go back to zero', async () => {
    await openUploads('sweep-u', 1200, 1);
    expect(await usage(s, 'sweep-u')).toMatchObject({ reservedBytes: 1200 });
    const uploads = s.app.ctx.store.uploads;
    const original = uploads.staleUploads.bind(uploads);
    const pages: number[] = [];
    const spy = vi.spyOn(uploads, 'staleUploads').mockImplementation(async (...args: Parameters<typeof original>) => {
      const rows = await original(...args);
      pages.push(rows.length);
      return rows;
    });
    try {
      expect(await s.app.ctx.uploads.sweep(Date.now() + 25 * 3600_000)).toBe(1200);
    } finally {
      spy.mockRestore();
    }
    expect(Math.max(...pages)).toBeLessThanOrEqual(500);
    expect(pages.reduce((a, b) => a + b, 0)).toBe(1200);
    expect(await usage(s, 'sweep-u')).toMatchObject({ openUploads: 0, reservedBytes: 0 });
    expect(await s.app.ctx.store.uploads.countUploads('open')).toBe(0);
  });

  it('reconcile asks which upload areas belong to an upload a page at a time, keeps those and removes the rest', async () => {
    const known = await openUploads('rec-p', 700, 0);
    const unknown = Array.from({ length: 300 }, (_, i) => `Gone${String(i).padStart(8, '0')}`);
    const { blobs } = s.app.ctx;
    for (const id of [...known, ...unknown]) {
      const area = await blobs.beginUpload(id, { size: 1, partSize: 1, mime: 'text/plain' });
      await blobs.writePart(area, 1, Readable.from([Buffer.from('x')]), { maxBytes: 1 });
    }
    const uploads = s.app.ctx.store.uploads;
    const original = uploads.knownUploadIds.bind(uploads);
    const asked: number[] = [];
    const spy = vi.spyOn(uploads, 'knownUploadIds').mockImplementation(async (ids: string[]) => {
      asked.push(ids.length);
      return original(ids);
    });
    try {
      // Areas are left alone while young (an init may be committing); these are old by then.
      const result = await s.app.ctx.uploads.reconcile(Date.now() + ORPHAN_AREA_MIN_AGE_MS + 60_000);
      expect(result.orphans).toBe(300);
    } finally {
      spy.mockRestore();
    }
    expect(Math.max(...asked)).toBeLessThanOrEqual(500);
    expect(asked.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(new Set(await uploadAreaIds(s))).toEqual(new Set(known));
  });
});
