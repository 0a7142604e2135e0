/**
 * The first-day mistakes at start-up: each gives one line naming the cause and exit 1 (never a
 * stack trace or a hang); at run time /healthz tells the truth about every folder it writes.
 * A local-disk test where folders are concerned: an unwritable data root or storage/ folder is
 * the disk store's start-up and health check, made real with chmod on a real process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distPath, REPO } from '../config/run-dist.js';
import { freePort, processEnv } from '../helpers/process.js';
import { tempDir } from '../helpers/app.js';

/** As root (CI), the server runs as `nobody` so that file modes mean something. */
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

interface Run {
  code: number | null;
  stderr: string;
  ms: number;
}

function start(env: Record<string, string>, user: { uid?: number; gid?: number } = {}): Promise<Run> {
  const began = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [distPath('main.js')], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'], ...user });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - began });
    });
  });
}

/** The lines the process wrote that are not pino JSON (warnings about generated secrets are JSON). */
const plainLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));

const roots: string[] = [];
/** A data root owned by the user the server runs as. */
async function root(): Promise<string> {
  const dir = await tempDir('sl-start-');
  roots.push(dir);
  await fs.chmod(dir, 0o755);
  if (asUser.uid !== undefined) await fs.chown(dir, asUser.uid, asUser.gid);
  return dir;
}
afterAll(async () => {
  for (const dir of roots) {
    await fs.chmod(dir, 0o755).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

describe('start-up errors: one line, exit 1', () => {
  it('an address that is not one (BIND_HOST=999.1.1.1)', async () => {
    const run = await start({ ...processEnv(await root()), BIND_HOST: '999.1.1.1', PORT: String(await freePort()) });
    expect(run.code).toBe(1);
    expect(plainLines(run.stderr)).toEqual([expect.stringMatching(/^configuration error: BIND_HOST: /)]);
  });

  it('a port already in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = await start({ ...processEnv(await root()), BIND_HOST: '127.0.0.1', PORT: String(port) });
      expect(run.code).toBe(1);
      expect(plainLines(run.stderr)).toEqual([`cannot start: cannot listen on 127.0.0.1:${port}: the port is already in use (set PORT to another one)`]);
    } finally {
      blocker.close();
    }
  });

  it('UPLOAD_ROOT under /proc ends at once instead of spinning', async () => {
    const run = await start({ ...processEnv('/proc/self/stream-line-data'), PORT: String(await freePort()) });
    expect(run.code).toBe(1);
    expect(run.ms).toBeLessThan(10_000);
    expect(plainLines(run.stderr)).toEqual([expect.stringMatching(/^configuration error: UPLOAD_ROOT: .*procfs/)]);
  });

  it('an unwritable UPLOAD_ROOT with every secret from the environment', async () => {
    const parent = await root();
    await fs.chmod(parent, 0o555);
    const run = await start({ ...processEnv(path.join(parent, 'data')), PORT: String(await freePort()) }, asUser);
    expect(run.code).toBe(1);
    expect(plainLines(run.stderr)).toEqual([expect.stringMatching(/^configuration error: UPLOAD_ROOT: .* is not writable by this user/)]);
  });

  it('an unwritable storage/ folder in an existing data root', async () => {
    const dir = await root();
    await fs.mkdir(path.join(dir, 'storage'));
    if (asUser.uid !== undefined) await fs.chown(path.join(dir, 'storage'), asUser.uid, asUser.gid);
    await fs.chmod(path.join(dir, 'storage'), 0o555);
    const run = await start({ ...processEnv(dir), PORT: String(await freePort()) }, asUser);
    expect(run.code).toBe(1);
    expect(plainLines(run.stderr)).toEqual([expect.stringMatching(/^configuration error: UPLOAD_ROOT: .*storage is not writable/)]);
  });
});

describe('/healthz probes every folder the server writes', () => {
  it('says 503 not writable when storage/ stops being writable at run time', async () => {
    const dir = await root();
    const port = await freePort();
    const child = spawn(process.execPath, [distPath('main.js')], {
      cwd: REPO,
      env: { ...processEnv(dir), PORT: String(port), BIND_HOST: '127.0.0.1' },
      stdio: 'ignore',
      ...asUser,
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      let first: Response | undefined;
      for (let i = 0; i < 300 && first === undefined; i++) {
        first = await fetch(`${base}/healthz`).catch(() => undefined);
        if (first === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(first?.status).toBe(200);
      // The server (running as another user when we are root) can no longer write there.
      await fs.chmod(path.join(dir, 'storage'), 0o555);
      const res = await fetch(`${base}/healthz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { storage: { writable: boolean } }).storage.writable).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
