/**
 * Configuration: defaults, parsing, one ConfigError naming the variable for each bad value,
 * local secrets generated once (0600) with a warning each, production strictness; and, as a
 * process, `node dist/main.js` with a bad value exits 1 with one line naming the variable.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { ensureSecrets } from '../../src/config/secrets.js';
import { tempDir } from '../helpers/app.js';
import { distPath, runNode } from './run-dist.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(5070);
    expect(c.host).toBe('127.0.0.1');
    expect(c.uploadRoot).toBe(path.resolve('./data'));
    expect(c.publicBaseUrl).toBe('http://127.0.0.1:5070');
    expect(c.maxFileBytes).toBe(5120 * MiB);
    expect(c.quotaBytes).toBe(500 * GiB);
    expect(c.auth).toMatchObject({
      accessTtlSeconds: 900,
      refreshTtlSeconds: 7 * 86400,
      maxTokenHours: 24,
      alg: 'ES256',
      issuer: 'http://127.0.0.1:5070',
      keysDir: path.resolve('./data/keys'),
      serviceToken: undefined,
    });
    expect(c.databaseUrl).toBe(`sqlite:${path.resolve('./data/metadata.sqlite')}`);
    expect(c.production).toBe(false);
    expect(c.uploads.partWriteLeaseSeconds).toBe(10);
    expect(c.streamGcBytes).toBe(8 * 1024 * 1024);
  });

  it('parses decimals, durations, lists and trims a trailing slash', () => {
    const c = loadConfig({
      PER_USER_QUOTA_GB: '0.5',
      MAX_BODY_MB: '1.5',
      ACCESS_TOKEN_TTL: '1h',
      REFRESH_TOKEN_TTL: '3600',
      PUBLIC_BASE_URL: 'https://files.example.com/',
      CORS_ORIGINS: 'https://a.example, https://b.example/',
      PORT: '8080',
    });
    expect(c.quotaBytes).toBe(0.5 * GiB);
    expect(c.maxFileBytes).toBe(1.5 * MiB);
    expect(c.auth.accessTtlSeconds).toBe(3600);
    expect(c.auth.refreshTtlSeconds).toBe(3600);
    expect(c.publicBaseUrl).toBe('https://files.example.com');
    expect(c.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(c.port).toBe(8080);
  });

  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dsa = generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 });

  it('accepts a base64 PEM public key for the external issuer', () => {
    const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(loadConfig({ AUTH_JWT_PUBLIC_KEY_BASE64: b64(pem) }).auth.external.publicKeyPem).toBe(pem);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['AUTH_JWT_ALG', 'HS256'],
    ['AUTH_JWT_ALG', 'none'],
    ['ACCESS_TOKEN_TTL', 'soon'],
    ['REFRESH_TOKEN_TTL', '0'],
    ['PUBLIC_BASE_URL', 'not-a-url'],
    ['PUBLIC_BASE_URL', 'localhost:5070'], // parses as scheme "localhost:", origin "null"
    ['PUBLIC_BASE_URL', 'javascript:alert(1)'],
    ['PUBLIC_BASE_URL', 'ftp://files.example.com'],
    ['AUTH_JWT_JWKS_URL', 'file:///etc/passwd'],
    ['PUBLIC_STORAGE', 'maybe'],
    ['AUTH_SERVICE_TOKEN', 'too-short'],
    ['UPLOAD_SIGNING_KEY', 'short'],
    ['MAX_BODY_MB', '0'],
    ['PER_USER_QUOTA_GB', '-1'],
    ['PER_USER_QUOTA_GB', '1e3'],
    ['MAX_TOKEN_HOURS', '0'],
    ['LOG_LEVEL', 'loud'],
    ['NODE_ENV', 'staging'],
    ['DATABASE_URL', 'mysql://db.example/files'],
    ['DATABASE_POOL_MAX', '0'],
    ['PART_WRITE_LEASE_SECONDS', '4'], // the writer withdraws 3 s before its lease lapses: it needs room
    ['STREAM_GC_MB', '-1'],
    ['STREAM_GC_MB', '2000'],
    ['AUTH_KEYS_SECRET', 'too-short'],
    ['AUTH_JWT_PUBLIC_KEY_BASE64', b64('not a pem')],
    ['AUTH_JWT_PUBLIC_KEY_BASE64', b64('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')],
    ['AUTH_JWT_PUBLIC_KEY_BASE64', b64(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)],
    ['AUTH_JWT_PUBLIC_KEY_BASE64', b64(dsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)],
  ])('refuses %s=%s with a ConfigError naming it', (name, value) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(name);
    expect((caught as ConfigError).message.startsWith(`${name}: `)).toBe(true);
    expect((caught as ConfigError).message).not.toContain('\n');
  });

  it('refuses a weak password hash cost in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PASSWORD_ARGON2_MEMORY_KIB: '1024' })).toThrow(/PASSWORD_ARGON2_MEMORY_KIB/);
  });
});

describe('ensureSecrets', () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir('sl-secrets-');
  });
  afterAll(async () => fs.rm(root, { recursive: true, force: true }));

  it('generates each missing secret once (0600 files), warns once each, then reuses them silently', async () => {
    const warnings: string[] = [];
    const first = ensureSecrets(loadConfig({ UPLOAD_ROOT: root }), (m) => warnings.push(m));
    expect(warnings).toHaveLength(3);
    for (const name of ['AUTH_SERVICE_TOKEN', 'UPLOAD_SIGNING_KEY', 'ADMIN_PASSWORD']) {
      expect(warnings.filter((w) => w.includes(name))).toHaveLength(1);
    }
    expect(first.auth.serviceToken).toMatch(/^[0-9a-f]{64}$/);
    expect(first.signingKey).toMatch(/^[0-9a-f]{64}$/);
    expect(first.auth.admin).toEqual({ username: 'admin', password: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const dir = path.join(root, 'secrets');
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    expect((await fs.readdir(dir)).sort()).toEqual(['admin-password', 'service-token', 'signing-key']);
    for (const f of await fs.readdir(dir)) expect((await fs.stat(path.join(dir, f))).mode & 0o777).toBe(0o600);

    const again: string[] = [];
    const second = ensureSecrets(loadConfig({ UPLOAD_ROOT: root }), (m) => again.push(m));
    expect(again).toEqual([]);
    expect(second.auth.serviceToken).toBe(first.auth.serviceToken);
    expect(second.signingKey).toBe(first.signingKey);
    expect(second.auth.admin.password).toBe(first.auth.admin.password);
  });

  it('never generates a secret that is configured', async () => {
    const fresh = await tempDir('sl-secrets-');
    const warnings: string[] = [];
    const c = ensureSecrets(
      loadConfig({ UPLOAD_ROOT: fresh, AUTH_SERVICE_TOKEN: 'configured-service-token', UPLOAD_SIGNING_KEY: 'configured-signing-key', ADMIN_PASSWORD: 'configured' }),
      (m) => warnings.push(m),
    );
    expect(warnings).toEqual([]);
    expect(c.auth.serviceToken).toBe('configured-service-token');
    await expect(fs.access(path.join(fresh, 'secrets'))).rejects.toThrow();
    await fs.rm(fresh, { recursive: true, force: true });
  });

  it('replaces an empty secret file left by an interrupted start', async () => {
    const fresh = await tempDir('sl-secrets-');
    await fs.mkdir(path.join(fresh, 'secrets'));
    await fs.writeFile(path.join(fresh, 'secrets', 'service-token'), '');
    const c = ensureSecrets(loadConfig({ UPLOAD_ROOT: fresh }), () => {});
    expect(c.auth.serviceToken).toMatch(/^[0-9a-f]{64}$/);
    expect((await fs.readFile(path.join(fresh, 'secrets', 'service-token'), 'utf8')).trim()).toBe(c.auth.serviceToken);
    await fs.rm(fresh, { recursive: true, force: true });
  });

  it('names UPLOAD_ROOT when the secrets cannot be kept there', async () => {
    const file = path.join(root, 'not-a-directory');
    await fs.writeFile(file, '');
    expect(() => ensureSecrets(loadConfig({ UPLOAD_ROOT: path.join(file, 'data') }), () => {})).toThrow(/^UPLOAD_ROOT: /);
  });

  it('with PostgreSQL requires AUTH_SERVICE_TOKEN, UPLOAD_SIGNING_KEY and AUTH_KEYS_SECRET (one per instance would not be shared), and generates nothing', async () => {
    const fresh = await tempDir('sl-secrets-');
    const full = {
      UPLOAD_ROOT: fresh,
      DATABASE_URL: 'postgres://app:pw@db.example:5432/files',
      AUTH_SERVICE_TOKEN: 'configured-service-token',
      UPLOAD_SIGNING_KEY: 'configured-signing-key',
      AUTH_KEYS_SECRET: 'configured-keys-secret',
    };
    for (const missing of ['AUTH_SERVICE_TOKEN', 'UPLOAD_SIGNING_KEY', 'AUTH_KEYS_SECRET'] as const) {
      const env: Record<string, string> = { ...full };
      delete env[missing];
      let caught: unknown;
      try {
        ensureSecrets(loadConfig(env), () => {});
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).message).toBe(`${missing}: is required with a PostgreSQL DATABASE_URL (every instance must share it)`);
    }
    const warnings: string[] = [];
    const c = ensureSecrets(loadConfig(full), (m) => warnings.push(m));
    expect(c.databasePoolMax).toBe(10);
    expect(c.auth.keysSecret).toBe('configured-keys-secret');
    expect(c.auth.admin.password).toBeUndefined(); // no per-instance admin password either
    expect(warnings).toEqual([]);
    await expect(fs.access(path.join(fresh, 'secrets'))).rejects.toThrow();
    await fs.rm(fresh, { recursive: true, force: true });
  });

  it('refuses missing secrets in production instead of generating them', () => {
    const prod = { NODE_ENV: 'production', UPLOAD_ROOT: root };
    expect(() => ensureSecrets(loadConfig(prod), () => {})).toThrow(ConfigError);
    expect(() => ensureSecrets(loadConfig(prod), () => {})).toThrow(/^AUTH_SERVICE_TOKEN: /);
    expect(() => ensureSecrets(loadConfig({ ...prod, AUTH_SERVICE_TOKEN: 'production-service-token' }), () => {})).toThrow(/^UPLOAD_SIGNING_KEY: /);
    const ok = ensureSecrets(loadConfig({ ...prod, AUTH_SERVICE_TOKEN: 'production-service-token', UPLOAD_SIGNING_KEY: 'production-signing-key' }), () => {});
    expect(ok.auth.admin.password).toBeUndefined();
  });
});

describe('the server process', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await tempDir('sl-cwd-');
  });
  afterAll(async () => fs.rm(cwd, { recursive: true, force: true }));

  it('exits 1 on a bad value with exactly one stderr line naming the variable, touching nothing', async () => {
    const cases: [string, string][] = [
      ['PORT', 'abc'],
      ['AUTH_JWT_PUBLIC_KEY_BASE64', b64('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')],
    ];
    const results = await Promise.all(cases.map(([name, value]) => runNode('main.js', [], { [name]: value }, cwd)));
    cases.forEach(([name], i) => {
      const r = results[i]!;
      expect(r.code, name).toBe(1);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(name);
      expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    });
    await expect(fs.access(path.join(cwd, 'data'))).rejects.toThrow(); // stopped before creating ./data
  });

  it('starts with no configuration at all: data under ./data, a warning per generated secret, clean SIGTERM', async () => {
    const home = await tempDir('sl-cwd-');
    const child = spawn(process.execPath, [distPath('main.js')], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 15_000);
        child.stdout.on('data', () => /Server listening at/.test(out) && (clearTimeout(timer), resolve()));
        void exited.then(() => reject(new Error(`exited early:\n${out}`)));
      });
      for (const name of ['AUTH_SERVICE_TOKEN', 'UPLOAD_SIGNING_KEY', 'ADMIN_PASSWORD']) expect(out).toContain(name);
      expect((await fs.readdir(path.join(home, 'data', 'secrets'))).sort()).toEqual(['admin-password', 'service-token', 'signing-key']);
      expect((await fs.readdir(path.join(home, 'data'))).sort()).toEqual(expect.arrayContaining(['keys', 'metadata.sqlite', 'secrets']));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await fs.rm(home, { recursive: true, force: true });
    }
  });
});
