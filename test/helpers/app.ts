/**
 * Test harness: a real app on a fresh temporary UPLOAD_ROOT with known secrets.
 * `inject` for most tests; `app.listen()` for the ones that need a real socket.
 *
 * SL_TEST_DATABASE=postgres (the `postgres` project in vitest.config.ts) runs the same suites
 * on PostgreSQL: each server gets a fresh schema on the test cluster, and the same one again
 * when it is started anew on the same root (a restart keeps its records and signing keys).
 * A test that gives DATABASE_URL itself keeps it.
 *
 * SL_TEST_STORAGE=s3 (the `s3` projects) stores the bytes on the test S3 server instead of
 * UPLOAD_ROOT: each server gets a fresh key prefix in the run's bucket (test/helpers/s3.ts), the
 * same one again on a restart on the same root. A test that gives STORAGE_BACKEND keeps it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { Clock } from '../../src/util/clock.js';
import { freshSchema } from './postgres.js';
import type { S3Place } from './s3.js';

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
    PASSWORD_ARGON2_MEMORY_KIB: '1024',
    LOGIN_RATE_LIMIT: '1000',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

/** The engine the HTTP suites run on: SQLite unless the `postgres` project asks. */
export const testDatabase: 'sqlite' | 'postgres' = process.env.SL_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';

interface TestSchema {
  url: string;
  /** AUTH_KEYS_SECRET: signing keys sealed under it must open again after a restart. */
  keysSecret: string;
  drop(): Promise<void>;
}
const schemasByRoot = new Map<string, TestSchema>();

/** DATABASE_URL and AUTH_KEYS_SECRET for a server on `root` under the postgres project; none otherwise. */
async function databaseEnv(root: string, overrides: Record<string, string>): Promise<Record<string, string>> {
  if (testDatabase !== 'postgres' || overrides.DATABASE_URL) return {};
  let schema = schemasByRoot.get(root);
  if (!schema) {
    const fresh = await freshSchema('http');
    schema = { url: fresh.url, keysSecret: 'keys-' + randomBytes(24).toString('hex'), drop: fresh.drop };
    schemasByRoot.set(root, schema);
  }
  return { DATABASE_URL: schema.url, AUTH_KEYS_SECRET: schema.keysSecret };
}

/** Where the HTTP suites keep bytes: local disk unless an `s3` project asks. */
export const testStorage: 'local' | 's3' = process.env.SL_TEST_STORAGE === 's3' ? 's3' : 'local';

const s3PlacesByRoot = new Map<string, S3Place>();

/** STORAGE_BACKEND=s3 and the S3_* variables for a server on `root` under an s3 project; none otherwise. */
async function storageEnv(root: string, overrides: Record<string, string>): Promise<Record<string, string>> {
  if (testStorage !== 's3' || overrides.STORAGE_BACKEND) return {};
  let place = s3PlacesByRoot.get(root);
  if (!place) {
    // Imported here: the S3 SDK costs ~0.2 s to load, and most test files never need it.
    const { freshS3 } = await import('./s3.js');
    place = await freshS3('http');
    s3PlacesByRoot.set(root, place);
  }
  return place.env;
}

export async function startTestServer(overrides: Record<string, string> = {}, existingRoot?: string, opts: { clock?: Clock } = {}): Promise<TestServer> {
  const root = existingRoot ?? (await tempDir());
  const env = testEnv(root, { ...(await databaseEnv(root, overrides)), ...(await storageEnv(root, overrides)), ...overrides });
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
      if (existingRoot) return; // the caller may start another server on it (kept with its schema)
      await fs.rm(root, { recursive: true, force: true });
      await schemasByRoot.get(root)?.drop();
      schemasByRoot.delete(root);
      await s3PlacesByRoot.get(root)?.drop();
      s3PlacesByRoot.delete(root);
    },
  };
  return server;
}
