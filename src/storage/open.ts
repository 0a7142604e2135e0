/**
 * The BlobStore the configuration asks for (STORAGE_BACKEND), opened and ready: the one place
 * that knows which implementations exist. A bucket that cannot be used stops the start with
 * one line naming the variable to fix.
 */
import path from 'node:path';
import { ConfigError, type Config } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { LocalDiskBlobStore } from './local-disk.js';
import { s3ErrorName, s3Status } from './s3/errors.js';
import type { S3BlobStore, S3StoreOptions } from './s3/s3-store.js';

export async function openBlobStore(config: Pick<Config, 'storageBackend' | 'uploadRoot' | 's3'>, s3Options: S3StoreOptions = {}): Promise<BlobStore> {
  switch (config.storageBackend) {
    case 'local': {
      const store = new LocalDiskBlobStore(config.uploadRoot);
      await store.init();
      return store;
    }
    case 's3':
      // Parts held for the hash chain are spooled under the server's own root, not /tmp.
      return openS3(config.s3, { spoolDir: path.join(config.uploadRoot, '.tmp'), ...s3Options });
  }
}

async function openS3(s3: Config['s3'], opts: S3StoreOptions): Promise<S3BlobStore> {
  if (!s3.bucket) throw new ConfigError('S3_BUCKET', 'is required with STORAGE_BACKEND=s3');
  // Loaded only here: the AWS SDK costs ~0.25 s to import, which a local-disk process never pays.
  const { S3BlobStore } = await import('./s3/s3-store.js');
  const store = new S3BlobStore({ ...s3, bucket: s3.bucket }, { downloadRedirect: s3.downloadRedirect, ...opts });
  try {
    await store.open({ createBucket: s3.createBucket });
  } catch (err) {
    await store.close();
    throw startError(err, s3.bucket, s3.endpoint ?? 'AWS S3', s3.region);
  }
  return store;
}

/** Why the bucket cannot be used, as the variable to fix. */
function startError(err: unknown, bucket: string, endpoint: string, region: string): ConfigError {
  const name = s3ErrorName(err);
  const status = s3Status(err);
  const code = (err as { code?: string }).code;
  if (status === undefined) return new ConfigError('S3_ENDPOINT', `cannot reach ${endpoint}: ${code || name || 'no answer'}`);
  if (status === 404 || name === 'NoSuchBucket') return new ConfigError('S3_BUCKET', `bucket "${bucket}" does not exist at ${endpoint} (S3_CREATE_BUCKET=true creates it)`);
  if (status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
    return new ConfigError('S3_ACCESS_KEY_ID', `access to bucket "${bucket}" at ${endpoint} was refused (${status} ${name}): check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY`);
  }
  if (status === 301 || status === 400 || name === 'AuthorizationHeaderMalformed' || name === 'PermanentRedirect') {
    return new ConfigError('S3_REGION', `bucket "${bucket}" at ${endpoint} refused the region "${region}" (${status} ${name})`);
  }
  if (name === 'BucketAlreadyExists') return new ConfigError('S3_BUCKET', `bucket "${bucket}" belongs to someone else`);
  return new ConfigError('S3_ENDPOINT', `bucket "${bucket}" at ${endpoint} answered ${status} ${name}`);
}
