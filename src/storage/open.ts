/**
 * The BlobStore the configuration asks for (STORAGE_BACKEND), opened and ready: the one place
 * that knows which implementations exist.
 */
import { ConfigError, type Config } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { LocalDiskBlobStore } from './local-disk.js';

export async function openBlobStore(config: Pick<Config, 'storageBackend' | 'uploadRoot'>): Promise<BlobStore> {
  switch (config.storageBackend) {
    case 'local': {
      const store = new LocalDiskBlobStore(config.uploadRoot);
      await store.init();
      return store;
    }
    case 's3':
      // The S3 store (issue 14) lands here; until then the start says so in one line.
      throw new ConfigError('STORAGE_BACKEND', 's3 is not built in yet');
  }
}
