/**
 * For the user CLI suites: the real binary (`node dist/cli/bin.js`, the package's bin) run as a
 * child process with its own HOME / XDG directories, and an HTTP proxy between it and the
 * server that counts the part uploads it forwards and can hold back the ones after the Nth
 * (so an upload is stopped at a known point, without timing).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { distPath } from '../config/run-dist.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';

export const BIN = distPath(path.join('cli', 'bin.js'));
const execFileP = promisify(execFile);

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process has exited: the code (null when killed) and its output. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
}

/** `stream-line ...args` with exactly `env` (plus PATH); `input` is written to stdin, then closed. */
export function runCli(args: string[], env: Record<string, string>, opts: { input?: string; cwd?: string; timeoutMs?: number } = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? env.HOME,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

export const cli = (args: string[], env: Record<string, string>, opts: { input?: string; cwd?: string } = {}) => runCli(args, env, opts).done;

const isPart = (req: http.IncomingMessage) => (req.method === 'PUT' || req.method === 'POST') && (req.url ?? '').startsWith('/v1/files/part');

export interface PartProxy {
  url: string;
  /** Part uploads forwarded and answered 200 by the server. */
  partsStored: number;
  /** Part uploads received (forwarded or held). */
  partsSeen: number;
  /** Every request received: method, URL and Range header. */
  requests: Array<{ method: string; url: string; range?: string }>;
  /** From now on, part uploads beyond the first `n` stored are held: never forwarded, never answered. */
  holdAfter(n: number): void;
  /** Resolves once `n` parts have been stored. */
  stored(n: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export async function startPartProxy(target: string): Promise<PartProxy> {
  const upstream = new URL(target);
  let limit = Infinity;
  const held = new Set<http.IncomingMessage>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const proxy: PartProxy = {
    url: '',
    partsStored: 0,
    partsSeen: 0,
    requests: [],
    holdAfter: (n) => (limit = n),
    stored: (n) => new Promise((resolve) => (proxy.partsStored >= n ? resolve() : waiters.push({ n, resolve }))),
    reset() {
      limit = Infinity;
      proxy.partsStored = 0;
      proxy.partsSeen = 0;
      proxy.requests = [];
    },
    async close() {
      for (const req of held) req.socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  let forwarding = 0;
  const server = http.createServer((req, res) => {
    const part = isPart(req);
    proxy.requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range });
    if (part) {
      proxy.partsSeen++;
      if (proxy.partsStored + forwarding >= limit) {
        held.add(req);
        return;
      }
      forwarding++;
    }
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        if (part) {
          forwarding--;
          if (answer.statusCode === 200) proxy.partsStored++;
          for (const w of waiters.filter((w) => proxy.partsStored >= w.n)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

export interface CliWorld {
  server: TestServer;
  /** The server's own address (PUBLIC_BASE_URL too, so signed links open). */
  base: string;
  proxy: PartProxy;
  /** A fresh HOME with XDG_CONFIG_HOME and XDG_STATE_HOME below it: the CLI's whole world. */
  home(): Promise<{ env: Record<string, string>; configDir: string; stateDir: string }>;
  /** An account made through the admin API; resolves to its password. */
  addUser(username: string): Promise<string>;
  close(): Promise<void>;
}

export async function startCliWorld(): Promise<CliWorld> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startTestServer({ PUBLIC_BASE_URL: base });
  await server.app.listen({ port, host: '127.0.0.1' });
  const proxy = await startPartProxy(base);
  const homes: string[] = [];
  return {
    server,
    base,
    proxy,
    async home() {
      const home = await tempDir('sl-cli-home-');
      homes.push(home);
      const configDir = path.join(home, 'cfg');
      const stateDir = path.join(home, 'state');
      return { env: { HOME: home, XDG_CONFIG_HOME: configDir, XDG_STATE_HOME: stateDir }, configDir: path.join(configDir, 'stream-line'), stateDir: path.join(stateDir, 'stream-line') };
    },
    async addUser(username) {
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const res = await server.asBearer(await server.adminToken(), { method: 'POST', url: '/v1/admin/users', payload: { username, password, role: 'operator' } });
      if (res.statusCode !== 201) throw new Error(`user ${username}: ${res.statusCode} ${res.body}`);
      return password;
    },
    async close() {
      await proxy.close();
      await server.close();
      for (const h of homes) await fs.rm(h, { recursive: true, force: true });
    },
  };
}

export interface Terminal {
  /** The pane's text now. */
  capture(): Promise<string>;
  /** tmux send-keys: key names (C-c, Enter) or, with literal, text typed as it is. */
  keys(keys: string, literal?: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * `stream-line ...args` in a real terminal: a detached tmux session (160×20) on a tmux server
 * of its own, with exactly `env` (plus PATH); the shell prints `exit=<code>` when it ends.
 */
export async function inTerminal(args: string[], env: Record<string, string>): Promise<Terminal> {
  const socket = `sl-cli-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = (...a: string[]) => execFileP('tmux', ['-L', socket, ...a]);
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const vars = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }).map(([k, v]) => `${k}=${q(v)}`);
  const command = `cd ${q(env.HOME ?? '/')} && env -i ${vars.join(' ')} ${q(process.execPath)} ${q(BIN)} ${args.map(q).join(' ')}; echo "exit=$?"; sleep 60`;
  await tmux('new-session', '-d', '-s', 'cli', '-x', '160', '-y', '20', command);
  return {
    capture: async () => (await tmux('capture-pane', '-p', '-t', 'cli')).stdout,
    keys: async (keys, literal = false) => void (await tmux('send-keys', '-t', 'cli', ...(literal ? ['-l'] : []), keys)),
    close: async () => void (await tmux('kill-server').catch(() => undefined)),
  };
}
