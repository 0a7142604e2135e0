/**
 * The PostgreSQL connection pool, wrapped for the metadata stores: every query goes through
 * `query` or `tx`, so a lost or refused connection becomes DatabaseUnavailable (a 503) in one
 * place, and a transaction always ends (COMMIT, or ROLLBACK and the client released).
 * BIGINT and NUMERIC come back as JavaScript numbers, checked to be exact.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { DatabaseUnavailable, StorageFull } from '../../errors/index.js';

const INT8 = 20;
const NUMERIC = 1700;

function exactNumber(text: string): number {
  const n = Number(text);
  // Sizes and unix-ms times stay below 2^53; anything beyond would be silently rounded.
  if (!Number.isSafeInteger(n) && !(Number.isFinite(n) && !Number.isInteger(n))) throw new RangeError(`database number ${text} is beyond 2^53`);
  return n;
}
pg.types.setTypeParser(INT8, exactNumber);
pg.types.setTypeParser(NUMERIC, exactNumber);

/** SQLSTATE classes and Node errors that mean "no usable connection", not "bad query". */
function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  if (/^(08|57P)/.test(code) || code === '53300') return true; // connection exception, admin shutdown, too many connections
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(e?.message ?? '');
}

export function translate(err: unknown): unknown {
  if (isConnectionFailure(err)) return new DatabaseUnavailable(err);
  // disk_full: the server could not write (the statement failed whole), as a full disk is for bytes.
  if ((err as { code?: string } | undefined)?.code === '53100') return new StorageFull('Not enough space on the volume holding the database', err);
  return err;
}

const names = new Map<string, string>();

/** A stable name per statement text (the SQL is fixed in code; parameters carry the values). */
function statementName(sql: string): string {
  let name = names.get(sql);
  if (!name) {
    name = `s${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
    names.set(sql, name);
  }
  return name;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

export class PgClient {
  readonly pool: pg.Pool;

  constructor(connectionString: string, opts: { max: number; onIdleError?: (err: Error) => void }) {
    this.pool = new pg.Pool({
      connectionString,
      max: opts.max,
      // A connection attempt to a database that is down fails fast (503) instead of hanging.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // Node's keep-alive notices a silently dropped connection in the pool.
      keepAlive: true,
    });
    // An idle client losing its connection (server restart) must not crash the process: the
    // pool drops it and opens a new one on the next query.
    this.pool.on('error', (err) => opts.onIdleError?.(err));
  }

  /**
   * One statement outside a transaction. Sent as a named prepared statement: each connection
   * parses and plans it once, which halves the cost of the hot ones (the guard's token check:
   * ~110–170 µs instead of ~210–250 µs on loopback). A pooler in transaction mode (PgBouncer)
   * needs its prepared-statement support for this (docs/scaling.md).
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ name: statementName(sql), text: sql, values: params });
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * One statement planned for its own values every time (unnamed): for a query whose best
   * plan depends on the values, where the generic plan a named statement switches to after
   * five runs would be wrong (a folder listing: ~2 ms planned for its values, ~25 ms generic).
   */
  async queryPlanned<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw translate(err);
    }
  }

  /** Runs `fn` in one transaction (READ COMMITTED; row locks and conditional writes do the rest). */
  async tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translate(err);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw translate(err);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
