/**
 * Crash safety, for real: the built server (node dist/main.js) is killed with SIGKILL while a
 * part streams in, then restarted on the same root. Whole parts survive, the cut one does
 * not count, temp files are cleaned up, and the upload completes with the right bytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO as repo } from '../config/run-dist.js';
import { bytes, eventually, MiB, request, sha256 } from '../files/upload-kit.js';
import { freePort } from '../helpers/process.js';


describe('kill -9 in the middle of a part, then restart', () => {
  let root: string;
  let port: number;
  let child: ChildProcess | null = null;
  let logs = '';
  const serviceToken = 'svc-' + randomBytes(24).toString('hex');
  const env = () => ({
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    UPLOAD_ROOT: root,
    PORT: String(port),
    BIND_HOST: '127.0.0.1',
    AUTH_SERVICE_TOKEN: serviceToken,
    UPLOAD_SIGNING_KEY: 'sig-' + 'k'.repeat(40),
    PASSWORD_ARGON2_MEMORY_KIB: '1024',
    LOG_LEVEL: 'warn',
  });

  async function start(): Promise<void> {
    child = spawn(process.execPath, ['dist/main.js'], { cwd: repo, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    const up = await eventually(async () => {
      if (child?.exitCode !== null) return false;
      return request(port, { method: 'GET', path: '/v1/files/all', headers: {} }).then(
        (r) => r.status === 401,
        () => false,
      );
    }, 15_000);
    if (!up) throw new Error(`server did not start:\n${logs}`);
  }

  async function kill9(): Promise<void> {
    const c = child!;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
    child = null;
  }

  const svc = { 'x-service-token': serviceToken };
  const json = (body: unknown) => ({ headers: { ...svc, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });
  const putPart = (id: string, n: number, data: Buffer) =>
    request(port, { method: 'PUT', path: `/v1/files/part?uploadId=${id}&partNumber=${n}`, headers: { ...svc, 'content-type': 'application/octet-stream', 'content-length': data.length }, body: data });

  beforeAll(async () => {
    // dist/ is built once for the whole run by test/global-setup.ts.
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'sl-kill9-'));
    port = await freePort();
  });

  afterAll(async () => {
    if (child) await kill9();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('keeps parts 1 and 2, drops the cut part 3 and its temp file, and completes after a restart', async () => {
    await start();
    const P = 5 * MiB;
    const data = bytes(3 * P - 1234);
    const part = (n: number) => data.subarray((n - 1) * P, n * P);

    const init = await request(port, { method: 'POST', path: '/v1/files/init', ...json({ user_id: 'crash-u', mode: 'chunked', partSize: P, files: [{ name: 'survivor.bin', size: data.length }] }) });
    expect(init.status).toBe(201);
    const id = JSON.parse(init.body).uploadId as string;
    expect((await putPart(id, 1, part(1))).status).toBe(200);
    expect((await putPart(id, 2, part(2))).status).toBe(200);

    // Part 3 starts streaming: half its bytes are sent, then the server dies mid-stream.
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', agent: false, path: `/v1/files/part?uploadId=${id}&partNumber=3`, headers: { ...svc, 'content-type': 'application/octet-stream', 'content-length': part(3).length } });
    req.on('error', () => undefined);
    req.write(part(3).subarray(0, P / 2));
    const writing = await eventually(async () => (await fs.readdir(path.join(root, '.tmp'))).length > 0, 5000);
    expect(writing).toBe(true);
    await kill9();
    req.destroy();
    expect((await fs.readdir(path.join(root, '.tmp'))).length).toBeGreaterThan(0); // the crash left it behind

    await start();
    const status = await request(port, { method: 'GET', path: `/v1/files/upload/${id}`, headers: svc });
    expect(status.status).toBe(200);
    const st = JSON.parse(status.body);
    expect(st.state).toBe('open');
    expect(st.parts).toEqual([
      { partNumber: 1, size: P, sha256: sha256(part(1)) },
      { partNumber: 2, size: P, sha256: sha256(part(2)) },
    ]);
    expect(await fs.readdir(path.join(root, '.tmp'))).toEqual([]);

    expect((await putPart(id, 3, part(3))).status).toBe(200);
    const done = await request(port, { method: 'POST', path: '/v1/files/complete', ...json({ uploadId: id }) });
    expect(done.status).toBe(201);
    const rec = JSON.parse(done.body);
    expect(rec.sha256).toBe(sha256(data));
    const onDisk = createHash('sha256').update(await fs.readFile(path.join(root, rec.key))).digest('hex');
    expect(onDisk).toBe(sha256(data));
  });
});
