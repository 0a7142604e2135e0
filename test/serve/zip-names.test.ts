/**
 * F-14: ZIP entry names are unique after archiver's own rewriting. archiver (and zip-stream and
 * compress-commons after it) strip a leading "word:" from every name, once each: the old namer
 * rewrote only the first ("ab:cd:ef" → "ab_cd:ef"), the next pass cut the rest ("ef"), and the
 * archive held two entries named "ef".
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { readZip, unzipTest } from './serve-helpers.js';

let s: TestServer;
let work: string;

beforeAll(async () => {
  s = await startTestServer();
  work = await tempDir('sl-zipnames-');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
  await s.close();
});

/** init + PUT + complete over HTTP, as a client would. */
async function upload(name: string, body: string, folder?: string): Promise<string> {
  const init = await s.asService({
    method: 'POST',
    url: '/v1/files/init',
    payload: { mode: 'single', files: [{ name, size: Buffer.byteLength(body) }], user_id: 'zed', ...(folder ? { folder } : {}) },
  });
  expect(init.statusCode, init.body).toBe(201);
  const uploadId = init.json().uploadId as string;
  const part = await s.asService({
    method: 'PUT',
    url: `/v1/files/part?uploadId=${uploadId}&partNumber=1`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: body,
  });
  expect(part.statusCode, part.body).toBe(200);
  const done = await s.asService({ method: 'POST', url: '/v1/files/complete', payload: { uploadId } });
  expect(done.statusCode, done.body).toBe(201);
  return done.json().key as string;
}

async function zipOf(keys: string[]): Promise<{ name: string; text: string }[]> {
  const created = await s.asService({ method: 'POST', url: '/v1/files/batch-download', payload: { keys, user_id: 'zed' } });
  expect(created.statusCode, created.body).toBe(201);
  const res = await s.app.inject({ method: 'GET', url: new URL(created.json().url).pathname });
  expect(res.statusCode).toBe(200);
  const file = path.join(work, `${created.json().token}.zip`);
  await fs.writeFile(file, res.rawPayload);
  await unzipTest(file);
  return (await readZip(file)).map((e) => ({ name: e.name, text: e.data!.toString() }));
}

describe('F-14 ZIP entry names unique after sanitising', () => {
  it('"ab:cd:ef" and "ef" at the root become two distinct entries', async () => {
    const keys = [await upload('ab:cd:ef', 'first'), await upload('ef', 'second')];
    const entries = await zipOf(keys);
    expect(new Set(entries.map((e) => e.name)).size).toBe(2);
    expect(entries).toEqual([
      { name: 'ab_cd_ef', text: 'first' },
      { name: 'ef', text: 'second' },
    ]);
  });

  it('colons anywhere, in folders too, never merge two files', async () => {
    const keys = [
      await upload('a:b:c', 'one'),
      await upload('c', 'two'),
      await upload('a_b_c', 'three'),
      await upload('x:y', 'four', 'd:e'),
      await upload('x_y', 'five', 'd_e'),
    ];
    const entries = await zipOf(keys);
    const names = entries.map((e) => e.name);
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(5);
    expect(names).toEqual(['a_b_c', 'c', 'a_b_c (2)', 'd_e/x_y', 'd_e/x_y (2)']);
    expect(entries.map((e) => e.text)).toEqual(['one', 'two', 'three', 'four', 'five']);
  });
});
