/**
 * The signing key ring. Keys live as JSON files (mode 0600) in AUTH_KEYS_DIR, one per key,
 * named by their RFC 7638 thumbprint (`kid`). The newest key that is not retired signs;
 * retired keys keep verifying and stay in the JWKS until every token they signed has expired.
 * Several processes may share the directory: each re-reads it when it meets an unknown kid
 * and, before signing or publishing the JWKS, once its refresh interval has passed (see
 * `refreshIfStale`), so `keys rotate` from the CLI reaches running servers.
 */
import fs from 'node:fs/promises';
import { readdirOrEmpty } from '../util/fs.js';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA';

interface StoredKey {
  kid: string;
  alg: SigningAlg;
  createdAt: number; // unix seconds
  retiredAt: number | null;
  privateJwk: JWK;
}

interface LoadedKey extends StoredKey {
  publicJwk: JWK;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

function publicPart(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const m of PRIVATE_MEMBERS) delete copy[m];
  return copy as JWK;
}

const now = () => Math.floor(Date.now() / 1000);

async function createKeyFile(dir: string, alg: SigningAlg): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicPart(privateJwk), 'sha256');
  const stored: StoredKey = { kid, alg, createdAt: now(), retiredAt: null, privateJwk: { ...privateJwk, kid, alg } };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // Written whole (temp file + rename): another process reading the directory never sees half a key.
  await writeStored(dir, stored);
  return stored;
}

async function readKeyFiles(dir: string): Promise<StoredKey[]> {
  const names = await readdirOrEmpty(dir);
  const keys: StoredKey[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    keys.push(JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as StoredKey);
  }
  return keys;
}

async function load(stored: StoredKey): Promise<LoadedKey> {
  const publicJwk = { ...publicPart(stored.privateJwk), kid: stored.kid, alg: stored.alg, use: 'sig' };
  const privateKey = (await importJWK(stored.privateJwk, stored.alg)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, stored.alg)) as CryptoKey;
  return { ...stored, publicJwk, privateKey, publicKey };
}

export interface KeyRingOptions {
  dir: string;
  alg: SigningAlg;
  /** How long a retired key must keep verifying: the longest token lifetime. */
  retentionSeconds: number;
  /** How often a running ring re-reads the directory to pick up rotations (default 60). */
  refreshSeconds?: number;
}

export class KeyRing {
  private keys = new Map<string, LoadedKey>();
  private active!: LoadedKey;
  private lastReload = 0;
  private refreshing: Promise<void> | null = null;

  private constructor(private readonly opts: KeyRingOptions) {}

  /** Loads the ring, generating the first key when the directory is empty. */
  static async open(opts: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(opts);
    await ring.reload();
    return ring;
  }

  /** Adds a new active key and retires the others (they keep verifying until retention ends). */
  static async rotate(opts: KeyRingOptions): Promise<string> {
    const existing = await readKeyFiles(opts.dir);
    const fresh = await createKeyFile(opts.dir, opts.alg);
    for (const key of existing.filter((k) => k.retiredAt === null)) {
      await writeStored(opts.dir, { ...key, retiredAt: fresh.createdAt });
    }
    return fresh.kid;
  }

  /** Re-reads the directory: picks up rotations, drops keys past their retention. */
  async reload(): Promise<void> {
    this.lastReload = Date.now();
    let stored = await readKeyFiles(this.opts.dir);
    const live = stored.filter((k) => k.retiredAt === null && k.alg === this.opts.alg);
    if (live.length === 0) stored = [...stored, await createKeyFile(this.opts.dir, this.opts.alg)];
    const cutoff = now() - this.opts.retentionSeconds;
    const next = new Map<string, LoadedKey>();
    for (const key of stored) {
      if (key.retiredAt !== null && key.retiredAt < cutoff) {
        await fs.rm(path.join(this.opts.dir, `${key.kid}.json`), { force: true });
        continue;
      }
      next.set(key.kid, this.keys.get(key.kid)?.retiredAt === key.retiredAt ? this.keys.get(key.kid)! : await load(key));
    }
    const candidates = [...next.values()].filter((k) => k.retiredAt === null && k.alg === this.opts.alg);
    this.active = candidates.sort((a, b) => b.createdAt - a.createdAt || a.kid.localeCompare(b.kid))[0]!;
    this.keys = next;
  }

  /**
   * Re-reads the directory when the refresh interval has passed, so a rotation made by
   * another process (the CLI) starts signing here too. A failed read keeps the current keys.
   */
  async refreshIfStale(): Promise<void> {
    if (Date.now() - this.lastReload < (this.opts.refreshSeconds ?? 60) * 1000) return;
    this.refreshing ??= this.reload()
      .catch(() => {})
      .finally(() => {
        this.refreshing = null;
      });
    await this.refreshing;
  }

  /** The key that signs new tokens. */
  signingKey(): { kid: string; alg: SigningAlg; key: CryptoKey } {
    return { kid: this.active.kid, alg: this.active.alg, key: this.active.privateKey };
  }

  /** The public key for `kid`, re-reading the directory (at most every 5 s) when unknown. */
  async verificationKey(kid: string): Promise<{ alg: SigningAlg; key: CryptoKey } | null> {
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastReload > 5000) {
      await this.reload().catch(() => {}); // an unreadable directory must not turn a bad token into a 500
      key = this.keys.get(kid);
    }
    return key ? { alg: key.alg, key: key.publicKey } : null;
  }

  /** Public members only (never `d` or the RSA primes). */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].map((k) => k.publicJwk) };
  }
}

async function writeStored(dir: string, key: StoredKey): Promise<void> {
  const file = path.join(dir, `${key.kid}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(key, null, 2), { mode: 0o600 });
  await fs.rename(tmp, file);
}
