/**
 * The signing key ring, over a KeyStore (key-store.ts: files by default). Keys are named by
 * their RFC 7638 thumbprint (`kid`). The greatest key (by creation, then kid) that is not
 * retired signs; retired keys keep verifying and stay in the JWKS until every token they
 * signed has expired. Several processes may share the store: each re-reads it when it meets
 * an unknown kid and, before signing or publishing the JWKS, once its refresh interval has
 * passed (see `refreshIfStale`), so `keys rotate` from the CLI or another instance reaches
 * running servers. Generation and import (jose) live here; the store only keeps records.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { systemClock, type Clock } from '../util/clock.js';
import { signerOf, supersededKeys, type KeyStore, type SigningAlg, type StoredKey } from './key-store.js';

export type { SigningAlg } from './key-store.js';

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

async function generateKey(alg: SigningAlg, createdAt: number): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicPart(privateJwk), 'sha256');
  return { kid, alg, createdAt, retiredAt: null, privateJwk: { ...privateJwk, kid, alg } };
}

async function load(stored: StoredKey): Promise<LoadedKey> {
  const publicJwk = { ...publicPart(stored.privateJwk), kid: stored.kid, alg: stored.alg, use: 'sig' };
  const privateKey = (await importJWK(stored.privateJwk, stored.alg)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, stored.alg)) as CryptoKey;
  return { ...stored, publicJwk, privateKey, publicKey };
}

/**
 * Retires what the ordering rule has already replaced (key-store.ts): after two instances
 * added a key at once, whoever settles first retires the lesser one. A rotation also retires
 * active keys of another algorithm (the operator moved on); a plain reload leaves those to
 * whoever configured them. Returns the store's keys as they are afterwards.
 */
async function settle(store: KeyStore, alg: SigningAlg, at: number, otherAlgs: boolean): Promise<StoredKey[]> {
  const keys = await store.list();
  const stale = [...supersededKeys(keys, alg), ...(otherAlgs ? keys.filter((k) => k.retiredAt === null && k.alg !== alg) : [])];
  for (const key of stale) await store.retire(key.kid, at);
  return stale.length > 0 ? store.list() : keys;
}

const unixSeconds = (clock: Clock = systemClock): number => Math.floor(clock.now() / 1000);

export interface KeyRingOptions {
  store: KeyStore;
  alg: SigningAlg;
  /** How long a retired key must keep verifying: the longest token lifetime. */
  retentionSeconds: number;
  /** How often a running ring re-reads the store to pick up rotations (default 60). */
  refreshSeconds?: number;
  /** Default: the system clock. Tests move time instead of waiting. */
  clock?: Clock;
}

export class KeyRing {
  private keys = new Map<string, LoadedKey>();
  private active!: LoadedKey;
  private lastReload = 0;
  private refreshing: Promise<void> | null = null;
  private readonly clock: Clock;

  private constructor(private readonly opts: KeyRingOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Loads the ring, generating the first key when the store has none for the algorithm. */
  static async open(opts: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(opts);
    await ring.reload();
    return ring;
  }

  /**
   * Adds a new active key and retires the others (they keep verifying until retention ends).
   * The new key is dated after every key already stored, so it outranks them even within the
   * same second. Returns the kid that signs afterwards: the new one, unless another instance
   * rotated at the same moment and its key won the ordering.
   */
  static async rotate(opts: KeyRingOptions): Promise<string> {
    const now = unixSeconds(opts.clock);
    const before = await opts.store.list();
    const fresh = await generateKey(opts.alg, Math.max(now, ...before.map((k) => k.createdAt + 1)));
    await opts.store.add(fresh); // a fresh key pair's thumbprint is new: 'exists' cannot happen
    const after = await settle(opts.store, opts.alg, now, true);
    return signerOf(after, opts.alg)?.kid ?? fresh.kid;
  }

  /** Re-reads the store: picks up rotations, settles concurrent ones, drops keys past retention. */
  async reload(): Promise<void> {
    const { store, alg } = this.opts;
    this.lastReload = this.clock.now();
    const now = unixSeconds(this.clock);
    if (!signerOf(await store.list(), alg)) await this.addFirstKey(now);
    const stored = await settle(store, alg, now, false);
    const cutoff = now - this.opts.retentionSeconds;
    const next = new Map<string, LoadedKey>();
    for (const key of stored) {
      if (key.retiredAt !== null && key.retiredAt < cutoff) {
        await store.remove(key.kid);
        continue;
      }
      const known = this.keys.get(key.kid);
      next.set(key.kid, known?.retiredAt === key.retiredAt ? known : await load(key));
    }
    const signer = signerOf(stored, alg);
    if (!signer) throw new Error(`the key store lost the ${alg} key just added`);
    this.active = next.get(signer.kid)!;
    this.keys = next;
  }

  /** Generates a signing key for a store with none; where the store can, one instance at a time. */
  private async addFirstKey(now: number): Promise<void> {
    const { store, alg } = this.opts;
    const addIfNone = async (s: KeyStore) => {
      if (!signerOf(await s.list(), alg)) await s.add(await generateKey(alg, now));
    };
    await (store.serialized ? store.serialized(addIfNone) : addIfNone(store));
  }

  /**
   * Re-reads the store when the refresh interval has passed, so a rotation made by another
   * process (the CLI) starts signing here too. A failed read keeps the current keys.
   */
  async refreshIfStale(): Promise<void> {
    if (this.clock.now() - this.lastReload < (this.opts.refreshSeconds ?? 60) * 1000) return;
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

  /** The public key for `kid`, re-reading the store (at most every 5 s) when unknown. */
  async verificationKey(kid: string): Promise<{ alg: SigningAlg; key: CryptoKey } | null> {
    let key = this.keys.get(kid);
    if (!key && this.clock.now() - this.lastReload > 5000) {
      await this.reload().catch(() => {}); // an unreadable store must not turn a bad token into a 500
      key = this.keys.get(kid);
    }
    return key ? { alg: key.alg, key: key.publicKey } : null;
  }

  /** Public members only (never `d` or the RSA primes). */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].map((k) => k.publicJwk) };
  }
}
