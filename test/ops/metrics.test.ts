/**
 * GET /metrics: Bearer METRICS_TOKEN only (404 when unset), and the figures move with real
 * traffic: uploads, bytes in and out, ZIP streams, auth failures, durations by route pattern.
 * Downloads go over a real socket: bytes out are counted when the response has been sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, complete, initOne, putPart } from '../files/upload-kit.js';
import { storageUrl, waitFor } from '../serve/serve-helpers.js';

const METRICS_TOKEN = 'metrics-' + 'x'.repeat(24);
let s: TestServer;
let base: string;

beforeAll(async () => {
  s = await startTestServer({ METRICS_TOKEN });
  base = await s.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => s.close());

async function scrape(): Promise<string> {
  const res = await s.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  return res.body;
}

const BYTES_OUT = 'file_bytes_total{direction="out"}';

/**
 * Waits until BYTES_OUT has grown by at least `n` since `before`: a response's bytes are
 * counted on 'finish', just after its last byte reached the client.
 */
async function bytesOutCounted(before: string, n: number): Promise<void> {
  await waitFor(async () => value(await scrape(), BYTES_OUT) - value(before, BYTES_OUT) >= n, 5000);
}

/** The value of one sample, e.g. value(text, 'uploads_total{event="started"}'); 0 when absent. */
function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

describe('access', () => {
  it('without METRICS_TOKEN the route does not exist', async () => {
    const plain = await startTestServer();
    try {
      const res = await plain.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('not_found');
    } finally {
      await plain.close();
    }
  });

  it('no token, a wrong token or another scheme → 401', async () => {
    for (const authorization of [undefined, `Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, 'Bearer ']) {
      const res = await s.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBeDefined();
    }
  });

  it('the right token → default process metrics', async () => {
    const text = await scrape();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
  });
});

describe('figures', () => {
  it('an upload counts started, completed and bytes in; its download counts bytes out', async () => {
    const before = await scrape();
    const data = bytes(300_000);
    const id = await initOne(s, 'm1', { name: 'm.bin', size: data.length });
    expect((await putPart(s, id, 1, data)).statusCode).toBe(200);
    const done = await complete(s, id);
    expect(done.statusCode).toBe(201);
    const key = done.json().key as string;

    const got = await fetch(`${base}${storageUrl(key)}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    const small = await fetch(`${base}${storageUrl(key)}`, { headers: { range: 'bytes=0-99' } });
    expect(small.status).toBe(206);
    await small.arrayBuffer();
    await bytesOutCounted(before, data.length + 100);

    const after = await scrape();
    const delta = (sample: string) => value(after, sample) - value(before, sample);
    expect(delta('uploads_total{event="started"}')).toBe(1);
    expect(delta('uploads_total{event="completed"}')).toBe(1);
    expect(delta('file_bytes_total{direction="in"}')).toBe(data.length);
    expect(delta('file_bytes_total{direction="out"}')).toBe(data.length + 100);
    // Durations are labelled by the route pattern: a key never becomes a label value.
    expect(after).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/storage\/\*",status_code="200"\} \d+/);
    expect(after).not.toContain(key);
  });

  it('a ZIP stream counts as started and complete, its bytes as out', async () => {
    const before = await scrape();
    const data = bytes(50_000);
    const id = await initOne(s, 'm2', { name: 'z.bin', size: data.length });
    await putPart(s, id, 1, data);
    const key = (await complete(s, id)).json().key as string;
    const batch = await s.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys: [key] } });
    expect(batch.statusCode).toBe(201);
    const zip = Buffer.from(await (await fetch(`${base}/v1/files/batch-download/${batch.json().token}`)).arrayBuffer());
    await bytesOutCounted(before, zip.length);
    const ZIPS = 'zip_streams_total{outcome="complete"}';
    await waitFor(async () => value(await scrape(), ZIPS) > value(before, ZIPS), 5000); // counted when the job ends
    const after = await scrape();
    expect(value(after, ZIPS) - value(before, ZIPS)).toBe(1);
    expect(value(after, 'file_bytes_total{direction="out"}') - value(before, 'file_bytes_total{direction="out"}')).toBe(zip.length);
  });

  it('a bad credential counts as an auth failure by reason', async () => {
    const before = await scrape();
    const res = await s.asBearer('not.a.jwt', { method: 'GET', url: '/auth/me' });
    expect(res.statusCode).toBe(401);
    const after = await scrape();
    const sum = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('auth_failures_total{'))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    expect(sum(after) - sum(before)).toBe(1);
  });
});
