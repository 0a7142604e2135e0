/**
 * Graceful shutdown of a real process: on SIGTERM a part upload in flight is finished (and
 * survives a restart), or, past SHUTDOWN_GRACE_SECONDS, cut off and not counted: never corrupt.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.js';
import { processEnv, startServerProcess, type ServerProcess } from '../helpers/process.js';

const MiB = 1024 * 1024;
const running: ServerProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const p = await startServerProcess(env);
  running.push(p);
  return p;
}

async function api(p: ServerProcess, method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(p.base + url, {
    method,
    headers: { 'x-service-token': p.env.AUTH_SERVICE_TOKEN!, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/** Starts a raw part PUT, sends `first` bytes, and returns a way to send the rest. */
function slowPart(p: ServerProcess, uploadId: string, partNumber: number, bytes: Buffer, first: number) {
  let resolveRes!: (v: { status: number; body: string }) => void;
  let rejectRes!: (e: Error) => void;
  const response = new Promise<{ status: number; body: string }>((res, rej) => ((resolveRes = res), (rejectRes = rej)));
  const req = http.request(`${p.base}/v1/files/part?uploadId=${uploadId}&partNumber=${partNumber}`, {
    method: 'PUT',
    headers: { 'x-service-token': p.env.AUTH_SERVICE_TOKEN!, 'content-type': 'application/octet-stream', 'content-length': bytes.length },
  });
  req.on('response', (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => resolveRes({ status: res.statusCode!, body }));
  });
  req.on('error', rejectRes);
  req.write(bytes.subarray(0, first));
  return { response, finish: () => req.end(bytes.subarray(first)) };
}

describe('graceful shutdown', () => {
  it('finishes a part in flight on SIGTERM, refuses new work, and the upload resumes after restart', async () => {
    const root = await tempDir();
    const env = processEnv(root, { SHUTDOWN_GRACE_SECONDS: '20' });
    const data = randomBytes(10 * MiB + 123);
    let p = await start(env);
    const init = await api(p, 'POST', '/v1/files/init', { mode: 'chunked', partSize: 5 * MiB, files: [{ name: 'movie.bin', size: data.length }], user_id: 'u1' });
    expect(init.status).toBe(201);
    const uploadId = init.json.uploadId as string;

    const inflight = slowPart(p, uploadId, 1, data.subarray(0, 5 * MiB), 2 * MiB);
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await expect(fetch(`${p.base}/healthz`)).rejects.toThrow(); // no longer accepting connections
    inflight.finish();
    const res = await inflight.response;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ partNumber: 1, size: 5 * MiB });
    expect(await p.exited).toBe(0);

    p = await start(env);
    const status = await api(p, 'GET', `/v1/files/upload/${uploadId}`);
    expect(status.json.parts.map((x: { partNumber: number }) => x.partNumber)).toEqual([1]);
    for (const n of [2, 3]) {
      const chunk = data.subarray((n - 1) * 5 * MiB, n * 5 * MiB);
      const put = await fetch(`${p.base}/v1/files/part?uploadId=${uploadId}&partNumber=${n}`, { method: 'PUT', headers: { 'x-service-token': env.AUTH_SERVICE_TOKEN! }, body: chunk });
      expect(put.status).toBe(200);
    }
    const done = await api(p, 'POST', '/v1/files/complete', { uploadId });
    expect(done.status).toBe(201);
    expect(done.json.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('past the grace period cuts a stalled part, which is then not counted and leaves no temp file', async () => {
    const root = await tempDir();
    const env = processEnv(root, { SHUTDOWN_GRACE_SECONDS: '1' });
    let p = await start(env);
    const init = await api(p, 'POST', '/v1/files/init', { mode: 'chunked', partSize: 5 * MiB, files: [{ name: 'a.bin', size: 6 * MiB }], user_id: 'u1' });
    const uploadId = init.json.uploadId as string;
    const stalled = slowPart(p, uploadId, 1, randomBytes(5 * MiB), MiB);
    stalled.response.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    await expect(stalled.response).rejects.toThrow();

    p = await start(env);
    const status = await api(p, 'GET', `/v1/files/upload/${uploadId}`);
    expect(status.status).toBe(200);
    expect(status.json.parts).toEqual([]);
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);
    p.child.kill('SIGTERM');
    await p.exited;
  });
});
