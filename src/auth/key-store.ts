/**
 * The signing-key port. A KeyStore keeps the key ring's records (private JWKs included);
 * KeyRing (keyring.ts) generates, imports and chooses keys on top of it. Files are the
 * embedded default (key-store-file.ts); a database store will hold the same records so
 * that every instance shares one ring.
 *
 * Many instances may rotate, start on an empty store or prune at once, so the port is made
 * of steps that cannot lose a key and a rule that needs no lock to pick one signer:
 * - keys are totally ordered by (createdAt, kid) (`keyOrder`); the signer of an algorithm is
 *   the greatest of its keys that is not retired. Two instances that each added a key at once
 *   both sign with the same one, and whoever next reads the ring retires the other.
 * - `add` is create-only, `retire` never un-retires or moves a retirement, `remove` only
 *   forgets: none of them rewrites what another instance wrote.
 */
import type { JWK } from 'jose';

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA';

export interface StoredKey {
  /** RFC 7638 thumbprint of the public key (base64url). */
  kid: string;
  alg: SigningAlg;
  createdAt: number; // unix seconds
  retiredAt: number | null; // unix seconds
  /** The private JWK: whoever reads the store can sign, so it is kept like a password. */
  privateJwk: JWK;
}

export interface KeyStore {
  /** Every key, retired ones included (any order). */
  list(): Promise<StoredKey[]>;
  /**
   * Stores a new key unless its kid is already there: 'exists' leaves the stored key as it
   * was (two instances importing the same configured key both succeed, one writes).
   */
  add(key: StoredKey): Promise<'added' | 'exists'>;
  /**
   * Marks a key retired at `at` (unix seconds). 'unknown' when no such kid; 'already' when it
   * was retired before (its first retirement time stays: retention counts from it).
   */
  retire(kid: string, at: number): Promise<'retired' | 'already' | 'unknown'>;
  /** Forgets a key (past its retention); false when it was not there. */
  remove(kid: string): Promise<boolean>;
  /**
   * Optional capability of a store that instances share: runs `fn` with a view of this store
   * while no other instance runs `serialized` on it (a database lock), so instances starting at
   * once on an empty store make one first key between them, and all sign with it at once,
   * instead of one key each that the ordering rule settles only by their next refresh. `fn`
   * must use the store it is given. Stores without it (files) rely on that rule alone.
   */
  serialized?<T>(fn: (store: KeyStore) => Promise<T>): Promise<T>;
}

/** A kid is a base64url thumbprint: anything else is a programmer error (it names a file or a row). */
export function assertKid(kid: string): void {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(kid)) throw new TypeError(`not a key id: ${JSON.stringify(kid)}`);
}

/** The total order of keys: older first, ties (same second) broken by kid. */
export function keyOrder(a: Pick<StoredKey, 'createdAt' | 'kid'>, b: Pick<StoredKey, 'createdAt' | 'kid'>): number {
  return a.createdAt - b.createdAt || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);
}

/** The key that signs for `alg`: the greatest one not retired (undefined when there is none). */
export function signerOf(keys: StoredKey[], alg: SigningAlg): StoredKey | undefined {
  return keys.filter((k) => k.retiredAt === null && k.alg === alg).sort(keyOrder).at(-1);
}

/** Active keys of `alg` that another active key of `alg` outranks: what a settled ring retires. */
export function supersededKeys(keys: StoredKey[], alg: SigningAlg): StoredKey[] {
  const signer = signerOf(keys, alg);
  return signer ? keys.filter((k) => k.retiredAt === null && k.alg === alg && k.kid !== signer.kid) : [];
}
