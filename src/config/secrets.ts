/**
 * Local-use convenience: secrets that are not configured are generated once and kept
 * under UPLOAD_ROOT/secrets (mode 0600), with a warning each. In production they must be set.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createExclusiveSync, readIfExistsSync } from '../util/fs.js';
import { ConfigError, type Config } from './config.js';

export type Warn = (message: string) => void;

function persistedSecret(dir: string, name: string, warn: Warn, what: string): string {
  const file = path.join(dir, name);
  const existing = readIfExistsSync(file)?.trim();
  if (existing) return existing;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An empty file is a leftover of an interrupted start (older versions wrote in place).
  if (existing === '') fs.rmSync(file, { force: true });
  const value = randomBytes(32).toString('hex');
  // Created whole or not at all: when another process starting beside us got there first,
  // theirs is used, so both run with the same secret.
  if (createExclusiveSync(file, value + '\n', 0o600) === 'exists') {
    const theirs = readIfExistsSync(file)?.trim();
    if (!theirs) throw new Error(`${file} vanished or is empty while it was being created`);
    return theirs;
  }
  warn(`${what} is not set: generated one in ${file} (set it explicitly for production)`);
  return value;
}

/** Returns a config whose secrets are all present, generating local ones when allowed. */
/** A database several instances share (secrets and keys then cannot be per instance). */
export const isShared = (databaseUrl: string): boolean => /^postgres(ql)?:\/\//.test(databaseUrl);

export function ensureSecrets(config: Config, warn: Warn): Config {
  const dir = path.join(config.uploadRoot, 'secrets');
  if (config.production) {
    if (!config.auth.serviceToken) throw new ConfigError('AUTH_SERVICE_TOKEN', 'is required when NODE_ENV=production');
    if (!config.signingKey) throw new ConfigError('UPLOAD_SIGNING_KEY', 'is required when NODE_ENV=production');
  }
  if (isShared(config.databaseUrl)) {
    // Every instance must hold the same secrets: one generated here would be this instance's alone.
    const why = 'is required with a PostgreSQL DATABASE_URL (every instance must share it)';
    if (!config.auth.serviceToken) throw new ConfigError('AUTH_SERVICE_TOKEN', why);
    if (!config.signingKey) throw new ConfigError('UPLOAD_SIGNING_KEY', why);
    if (!config.auth.keysSecret) throw new ConfigError('AUTH_KEYS_SECRET', why);
    return config; // no admin password is generated either: set ADMIN_PASSWORD, or create one with the CLI
  }
  if (config.production) return config;
  try {
    const serviceToken = config.auth.serviceToken ?? persistedSecret(dir, 'service-token', warn, 'AUTH_SERVICE_TOKEN');
    const signingKey = config.signingKey ?? persistedSecret(dir, 'signing-key', warn, 'UPLOAD_SIGNING_KEY');
    let admin = config.auth.admin;
    if (!admin.password) {
      admin = { username: admin.username ?? 'admin', password: persistedSecret(dir, 'admin-password', warn, 'ADMIN_PASSWORD') };
    }
    return { ...config, signingKey, auth: { ...config.auth, serviceToken, admin } };
  } catch (err) {
    // An unwritable UPLOAD_ROOT is a configuration problem: one line, not a stack trace.
    throw new ConfigError('UPLOAD_ROOT', `cannot keep generated secrets in ${dir}: ${(err as Error).message}`);
  }
}
