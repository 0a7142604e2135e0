/**
 * Over a real socket: a 64 MiB download byte for byte, a client leaving mid-file, HEAD on
 * the wire, and traversal attempts sent exactly as written (no client-side normalisation).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { listen, openFds, patterned, putBytes, rawGet, sha256, storageUrl, storeFile, waitFor } from './serve-helpers.js';

let s: TestServer;
let base: string;
let port: number;
let big: FileRecord;
let bigBody: Buffer;
let small: FileRecord;
const SECRET = 'TOP-SECRET-OUTSIDE-STORAGE';

beforeAll(async () => {
  s = await startTestServer();
  ({ base, port } = await listen(s));
  bigBody = patterned(64 << 20, 3);
  big = await storeFile(s, 'u1', 'big.bin', bigBody, { folder: 'media' });
  small = await storeFile(s, 'u1', 'small.txt', 'small body', { mime: 'text/plain' });
  // Objects an escape would reach, written through the store with no record: outside
  // storage/, and in storage/ outside any user's folder.
  await putBytes(s, 'secret.txt', SECRET);
  await putBytes(s, 'storage/secret.txt', SECRET);
});
afterAll(async () => {
  await s.close();
});

function download(url: string, headers: Record<string, string> = {}): Promise<{ status: number; sha: string; bytes: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode!, sha: hash.digest('hex'), bytes, headers: res.headers }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('downloads over a socket', () => {
  it('64 MiB arrive intact (sha256 of the received bytes)', async () => {
    const res = await download(`${base}${storageUrl(big.key)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(64 << 20));
    expect(res.bytes).toBe(64 << 20);
    expect(res.sha).toBe(big.sha256);
  });

  it('a range near the end of the big file', async () => {
    const res = await download(`${base}${storageUrl(big.key)}`, { range: 'bytes=-1048577' });
    expect(res.status).toBe(206);
    expect(res.sha).toBe(sha256(bigBody.subarray(bigBody.length - 1048577)));
  });

  it('HEAD sends headers only on the wire', async () => {
    const res = await rawGet(port, storageUrl(big.key), 'HEAD');
    expect(res.status).toBe(200);
    expect(res.head).toMatch(/content-length: 67108864/i);
    expect(res.body.length).toBe(0);
  });

  it('a client leaving mid-file closes the file handle; the server carries on', async () => {
    const before = openFds();
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}${storageUrl(big.key)}`, (res) => {
        let seen = 0;
        res.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > 4 << 20) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (e) => (e.message.includes('aborted') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
    });
    expect(await waitFor(() => openFds() <= before)).toBe(true);
    const again = await download(`${base}${storageUrl(small.key)}`);
    expect(again.status).toBe(200);
  });
});

describe('traversal, sent byte for byte', () => {
  const storageTargets = [
    '/storage/../secret.txt',
    '/storage/u1/../../secret.txt',
    '/storage/u1/../secret.txt',
    '/storage/%2e%2e/secret.txt',
    '/storage/u1/%2e%2e/%2e%2e/secret.txt',
    '/storage/u1/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/storage/u1/..%2f..%2fsecret.txt',
    '/storage/u1/..%2fsecret.txt',
    '/storage/u1/%252e%252e%252fsecret.txt',
    '/storage/u1/%252e%252e/secret.txt',
    '/storage/u1/secret.txt%00.txt',
    '/storage/u1/%00',
    '/storage/u1/..%5c..%5csecret.txt',
    '/storage/u1\\..\\secret.txt',
    '/storage/u1/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt',
    '/storage/u1/%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afsecret.txt',
    '/storage//etc/passwd',
    '/storage/%2fetc%2fpasswd',
    '/storage/u1/docs/..',
    '/storage/secret.txt',
    `/storage/u1/${'0'.repeat(32)}_x/../../secret.txt`,
    `/storage/u1/${'0'.repeat(32)}_small.txt/../../../secret.txt`,
  ];
  const getTargets = [
    '/get/../secret.txt',
    '/get/..%2f..%2fsecret.txt',
    '/get/%2e%2e',
    '/get/%2e%2e%2fsecret.txt',
    '/get/%252e%252e',
    '/get/%00',
    '/get/..%5csecret.txt',
    '/get/%c0%ae%c0%ae',
    '/get//etc/passwd',
    `/get/${Buffer.from('storage/../secret.txt').toString('base64url')}?exp=9999999999&sig=${'0'.repeat(64)}`,
    `/get/${Buffer.from('storage/u1/../../secret.txt').toString('base64')}`,
    `/get/${Buffer.from('/etc/passwd').toString('base64url')}`,
  ];

  it.each([...storageTargets, ...getTargets])('%s → 400 or 404, never file content', async (target) => {
    const res = await rawGet(port, target);
    expect([400, 404]).toContain(res.status);
    const text = res.body.toString('latin1');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('root:');
    expect(text).not.toContain('SQLite format');
  });
});
