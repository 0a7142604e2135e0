/**
 * The embedded KeyStore: one JSON file per key in AUTH_KEYS_DIR, named `<kid>.json`, mode
 * 0600 in a 0700 directory (the layout of earlier versions, so existing key directories keep
 * working). Several processes may share the directory: a key is created by a hard link
 * (refused when the name exists) and rewritten whole (temp file + rename), so a reader never
 * sees half a key and no writer replaces a key another one created.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createExclusive, readdirOrEmpty, readIfExists, removeIfExists, replaceWhole } from '../util/fs.js';
import { assertKid, type KeyStore, type StoredKey } from './key-store.js';

const FILE_MODE = 0o600;

export class FileKeyStore implements KeyStore {
  constructor(private readonly dir: string) {}

  private file(kid: string): string {
    assertKid(kid);
    return path.join(this.dir, `${kid}.json`);
  }

  private async read(kid: string): Promise<StoredKey | null> {
    const text = await readIfExists(this.file(kid));
    return text === null ? null : (JSON.parse(text) as StoredKey);
  }

  async list(): Promise<StoredKey[]> {
    // Temp files and anything not named like a key are not keys.
    const kids = (await readdirOrEmpty(this.dir)).flatMap((n) => /^([A-Za-z0-9_-]{1,128})\.json$/.exec(n)?.[1] ?? []);
    const keys = await Promise.all(kids.map((kid) => this.read(kid)));
    // A key removed by another process between the listing and the read is simply gone.
    return keys.filter((k): k is StoredKey => k !== null);
  }

  async add(key: StoredKey): Promise<'added' | 'exists'> {
    const file = this.file(key.kid);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    return (await createExclusive(file, JSON.stringify(key, null, 2), FILE_MODE)) === 'created' ? 'added' : 'exists';
  }

  /**
   * Read, then rewritten whole with the time set. Two processes retiring the same key at once
   * may both write: the key ends retired either way, at one of the two (near-equal) times.
   */
  async retire(kid: string, at: number): Promise<'retired' | 'already' | 'unknown'> {
    const key = await this.read(kid);
    if (!key) return 'unknown';
    if (key.retiredAt !== null) return 'already';
    await replaceWhole(this.file(kid), JSON.stringify({ ...key, retiredAt: at }, null, 2), FILE_MODE);
    return 'retired';
  }

  async remove(kid: string): Promise<boolean> {
    return removeIfExists(this.file(kid));
  }
}
