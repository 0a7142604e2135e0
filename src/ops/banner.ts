/**
 * What a person starting the server in a terminal needs to see once: where it listens, where
 * its data is, how to log in the first time, where the API docs are. Logs stay pino JSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { VERSION } from '../version.js';

export function startBanner(config: Config, address: string): string {
  const secrets = path.join(config.uploadRoot, 'secrets');
  const adminFile = path.join(secrets, 'admin-password');
  const generated = fs.existsSync(adminFile) && fs.readFileSync(adminFile, 'utf8').trim() === config.auth.admin.password;
  const admin = config.auth.admin.username
    ? `${config.auth.admin.username} (password ${generated ? `in ${adminFile}` : 'from ADMIN_PASSWORD'})`
    : 'none bootstrapped (set ADMIN_PASSWORD, or: npm run cli -- users add NAME --role admin)';
  const database = config.databaseUrl.startsWith('sqlite:') ? `SQLite ${config.databaseUrl.slice('sqlite:'.length)}` : config.databaseUrl;
  return [
    `Stream-Line file server ${VERSION} listening on ${address}`,
    `  data       ${config.uploadRoot} (${database})`,
    `  admin      ${admin}`,
    `  API docs   ${config.publicBaseUrl}/docs   OpenAPI ${config.publicBaseUrl}/openapi.json`,
    `  secrets    ${fs.existsSync(secrets) ? `generated ones in ${secrets} (set them in the environment for production)` : 'from the environment'}`,
    '',
  ].join('\n');
}
