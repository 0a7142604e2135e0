/**
 * The KeyStore (src/auth/key-store.ts) on PostgreSQL: table signing_keys, so every instance
 * shares one key ring. The private JWK is kept sealed (src/auth/key-store-seal.ts); this
 * adapter stores and returns the sealed text and never sees the secret. Each method is one
 * statement whose row count is the outcome: `add` inserts unless the kid exists, `retire` sets
 * the time only while it is unset, so concurrent instances never rewrite each other's keys.
 * `serialized` (the port's optional capability) runs a key ring's first-key step under an
 * advisory transaction lock, so instances starting at once on an empty table make one key.
 */
import type pg from 'pg';
import { assertKid, type KeyStore, type SigningAlg, type StoredKey } from '../../auth/key-store.js';
import type { KeySealer } from '../../auth/key-store-seal.js';
import type { PgClient } from './client.js';

/** Where statements run: the pool, or the client of a transaction (`serialized`). */
interface Statements {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** The advisory-lock class of key-ring changes (the lock's first key). */
const KEYS_LOCK_CLASS = 0x6b657973; // 'keys'

interface KeyRow {
  kid: string;
  alg: string;
  created_at: number;
  retired_at: number | null;
  private_jwk_sealed: string;
}

const SQL = {
  list: 'SELECT kid, alg, created_at, retired_at, private_jwk_sealed FROM signing_keys',
  add: `INSERT INTO signing_keys (kid, alg, created_at, retired_at, private_jwk_sealed) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (kid) DO NOTHING`,
  // One statement: the UPDATE's row count says 'retired'; the EXISTS (the statement's snapshot,
  // taken before the update) tells 'already' from 'unknown'.
  retire: `WITH done AS (UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL RETURNING kid)
           SELECT EXISTS (SELECT 1 FROM done) AS retired, EXISTS (SELECT 1 FROM signing_keys WHERE kid = $1) AS known`,
  remove: 'DELETE FROM signing_keys WHERE kid = $1',
  // Held until the transaction ends: instances opening on an empty table take turns.
  lock: 'SELECT pg_advisory_xact_lock($1, 0)',
};

export class PgKeyStore implements KeyStore {
  constructor(
    private readonly db: PgClient,
    private readonly sealer: KeySealer,
    private readonly run: Statements = db,
  ) {}

  /** Runs `fn` on one transaction's connection under a lock every instance's key ring takes. */
  async serialized<T>(fn: (store: KeyStore) => Promise<T>): Promise<T> {
    return this.db.tx(async (c) => {
      await c.query(SQL.lock, [KEYS_LOCK_CLASS]);
      return fn(new PgKeyStore(this.db, this.sealer, { query: (sql, params) => c.query(sql, params) }));
    });
  }

  /** Throws ConfigError('AUTH_KEYS_SECRET') when a key does not open with this instance's secret. */
  async list(): Promise<StoredKey[]> {
    const { rows } = await this.run.query<KeyRow>(SQL.list);
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg as SigningAlg,
      createdAt: r.created_at,
      retiredAt: r.retired_at,
      privateJwk: this.sealer.open(r.kid, r.private_jwk_sealed),
    }));
  }

  async add(key: StoredKey): Promise<'added' | 'exists'> {
    assertKid(key.kid);
    const sealed = this.sealer.seal(key.kid, key.privateJwk);
    const { rowCount } = await this.run.query(SQL.add, [key.kid, key.alg, key.createdAt, key.retiredAt, sealed]);
    return rowCount === 1 ? 'added' : 'exists';
  }

  async retire(kid: string, at: number): Promise<'retired' | 'already' | 'unknown'> {
    assertKid(kid);
    const row = (await this.run.query<{ retired: boolean; known: boolean }>(SQL.retire, [kid, at])).rows[0]!;
    return row.retired ? 'retired' : row.known ? 'already' : 'unknown';
  }

  async remove(kid: string): Promise<boolean> {
    assertKid(kid);
    return (await this.run.query(SQL.remove, [kid])).rowCount === 1;
  }
}
