/**
 * Test harness: a real app on a fresh temporary UPLOAD_ROOT with known secrets.
 * `inject` for most tests; `app.listen()` for the ones that need a real socket.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { Clock } from '../../src/util/clock.js';

export interface TestServer {
  app: FastifyInstance;
  config: Config;
  root: string;
  serviceToken: string;
  signingKey: string;
  adminPassword: string;
  /** inject with the service token header added. */
  asService(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** inject with a Bearer token added. */
  asBearer(token: string, opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** A user access token minted through the service route (role operator unless given). */
  tokenFor(userId: string, extra?: Record<string, string | number>): Promise<string>;
  /** Logs in as the bootstrapped admin. */
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

export async function tempDir(prefix = 'sl-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * The SQLite file behind DATABASE_URL, for the few tests about what that engine holds at rest
 * (bytes per row, a secret never stored in clear); the rest ask the MetadataStore port.
 */
export function sqliteFile(config: Pick<Config, 'databaseUrl'>): string {
  if (!config.databaseUrl.startsWith('sqlite:')) throw new Error(`not a SQLite database: ${config.databaseUrl}`);
  return path.resolve(config.databaseUrl.slice('sqlite:'.length));
}

export function testEnv(root: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    UPLOAD_ROOT: root,
    PUBLIC_BASE_URL: 'http://files.test',
    AUTH_SERVICE_TOKEN: 'svc-' + randomBytes(24).toString('hex'),
    UPLOAD_SIGNING_KEY: 'sig-' + randomBytes(24).toString('hex'),
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: 'admin-' + randomBytes(8).toString('hex'),
    PASSWORD_SCRYPT_LOG_N: '12',
    LOGIN_RATE_LIMIT: '1000',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

export async function startTestServer(overrides: Record<string, string> = {}, existingRoot?: string, opts: { clock?: Clock } = {}): Promise<TestServer> {
  const root = existingRoot ?? (await tempDir());
  const env = testEnv(root, overrides);
  const config = loadConfig(env);
  const app = await buildApp(config, { logger: false, clock: opts.clock });
  await app.ready();
  const serviceToken = config.auth.serviceToken!;
  const server: TestServer = {
    app,
    config,
    root,
    serviceToken,
    signingKey: config.signingKey!,
    adminPassword: env.ADMIN_PASSWORD!,
    asService: (opts) => app.inject({ ...opts, headers: { ...(opts.headers ?? {}), 'x-service-token': serviceToken } }),
    asBearer: (token, opts) => app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: `Bearer ${token}` } }),
    async tokenFor(userId, extra = {}) {
      const res = await server.asService({ method: 'POST', url: '/v1/files/generate-token', payload: { user_id: userId, ...extra } });
      if (res.statusCode !== 200) throw new Error(`generate-token failed: ${res.statusCode} ${res.body}`);
      return res.json().token as string;
    },
    async adminToken() {
      const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: env.ADMIN_PASSWORD } });
      if (res.statusCode !== 200) throw new Error(`admin login failed: ${res.statusCode} ${res.body}`);
      return res.json().access_token as string;
    },
    async close() {
      await app.close();
      if (!existingRoot) await fs.rm(root, { recursive: true, force: true });
    },
  };
  return server;
}
