/**
 * Real server processes for integration tests: `node dist/main.js` (built by the global
 * setup) on a free loopback port, with a temporary UPLOAD_ROOT unless one is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  base: string;
  env: Record<string, string>;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function processEnv(root: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'test',
    UPLOAD_ROOT: root,
    AUTH_SERVICE_TOKEN: 'svc-' + randomBytes(24).toString('hex'),
    UPLOAD_SIGNING_KEY: 'sig-' + randomBytes(24).toString('hex'),
    ADMIN_PASSWORD: 'admin-' + randomBytes(8).toString('hex'),
    PASSWORD_ARGON2_MEMORY_KIB: '1024',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
}

export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const fullEnv = { ...env, PORT: String(port), BIND_HOST: '127.0.0.1' };
  const child = spawn(process.execPath, [path.resolve('dist/main.js')], { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, port, base, env: fullEnv, stderr: () => err, exited };
}
