/**
 * The disk store's BlobStore.openReader: an open file handle read at positions into the
 * caller's buffers. The file stays readable while open even if its name is removed meanwhile
 * (a delete or move mid-download sends the bytes that were there, never a mix).
 */
import fs from 'node:fs/promises';
import type { BlobReader } from './blob-store.js';
import { reading } from './local-errno.js';

export async function openLocalReader(file: string, key: string): Promise<BlobReader> {
  const handle = await reading(key, () => fs.open(file, 'r')); // BlobNotFound here, before any header
  let closed: Promise<void> | null = null;
  return {
    read: async (buffer, offset, length, position) => (await handle.read(buffer, offset, length, position)).bytesRead,
    // FileHandle.close waits for a read in flight, so the descriptor is never reused under it.
    close: () => (closed ??= handle.close()),
  };
}
