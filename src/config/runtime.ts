/**
 * The process-level entry to configuration, shared by the server and the CLI: reads the
 * env file named by ENV_FILE (if any), validates everything once, fills local secrets.
 * The only module that looks at process.env.
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { checkDataRoot } from '../ops/preflight.js';
import { ensureSecrets, type Warn } from './secrets.js';

export function runtimeConfig(warn: Warn): Config {
  const envFile = process.env.ENV_FILE;
  if (envFile) {
    try {
      process.loadEnvFile(envFile);
    } catch (err) {
      throw new ConfigError('ENV_FILE', `cannot read ${envFile}: ${(err as Error).message}`);
    }
  }
  const config = loadConfig(process.env);
  checkDataRoot(config.uploadRoot);
  return ensureSecrets(config, warn);
}

/** Prints one line naming the bad variable and exits 1 (the contract for bad configuration). */
export function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
