/**
 * The BlobStore the configuration asks for (STORAGE_BACKEND), opened and ready: the one place
 * that knows which implementations exist.
 */
import type { Config } from '../config/config.js';
import type { BlobStore } from './blob-store.js';
import { LocalDiskBlobStore } from './local-disk.js';

export async function openBlobStore(config: Pick<Config, 'storageBackend' | 'uploadRoot'>): Promise<BlobStore> {
  switch (config.storageBackend) {
    case 'local': {
      const store = new LocalDiskBlobStore(config.uploadRoot);
      await store.init();
      return store;
    }
  }
}
