// A throwaway PostgreSQL cluster for the bench (.ci/start-postgres.sh, Debian's packages, run as
// root): a free port in 5600–5699, a random password, data under /tmp (the `postgres` user must
// reach it, and the bench's work dir is private). Started once per run, on the first case that
// asks for it, and removed at the end. One database per server group, so cases never share rows.
//
// Settings: durability of SQLite's class (the server runs SQLite in WAL with synchronous=NORMAL:
// a commit is not fsynced, a crash loses the last commits and corrupts nothing), which is
// PostgreSQL's fsync=on + synchronous_commit=off; the script's fsync=off and
// full_page_writes=off are turned back on. pg_stat_statements is preloaded, so the cases can
// read each statement's count and server-side execution time.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { run, runOk } from './proc.mjs';

const SCRIPT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../.ci/start-postgres.sh');

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePgPort() {
  for (let i = 0; i < 60; i++) {
    const port = 5600 + Math.floor(Math.random() * 100);
    if (await portIsFree(port)) return port;
  }
  throw new Error('no free port in 5600–5699 for the bench PostgreSQL cluster');
}

function pgBin() {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  if (!versions.length) throw new Error('PostgreSQL is not installed (/usr/lib/postgresql is empty)');
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
}

/** Starts the cluster; returns a handle: { url(db), createDatabase(name), psql(sql, db), query(sql, params, db), stats…, stop() }. */
export async function startPostgres({ log = () => {} } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the PostgreSQL cases need root (.ci/start-postgres.sh starts a cluster as the postgres user)');
  const port = await freePgPort();
  const user = 'bench';
  const password = randomBytes(12).toString('hex');
  const dir = `/tmp/sl-bench-pg-${process.pid}`;
  const env = { ...process.env, PG_DIR: dir, PG_PORT: String(port), PG_USER: user, PG_PASSWORD: password, PG_DB: user };
  const started = await runOk('bash', [SCRIPT], { env, timeoutMs: 5 * 60_000 });
  if (!/DATABASE_URL=postgres:\/\//.test(started.stdout)) throw new Error(`start-postgres.sh printed no DATABASE_URL: ${started.stdout}`);
  const bin = pgBin();
  const url = (db = user) => `postgres://${user}:${password}@127.0.0.1:${port}/${db}`;
  const stop = () => run('bash', [SCRIPT, 'stop'], { env }).then(() => undefined);

  /** psql as the superuser over the cluster's unix socket (setup only: no user input reaches it). */
  const psql = (sql, db = 'postgres') =>
    runOk('runuser', ['-u', 'postgres', '--', `${bin}/psql`, '-h', `${dir}/run`, '-p', String(port), '-U', 'postgres', '-d', db, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql]).then((r) => r.stdout.trim());
  try {
    await psql(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    await psql(`ALTER SYSTEM SET fsync = on`);
    await psql(`ALTER SYSTEM SET full_page_writes = on`);
    await psql(`ALTER SYSTEM SET synchronous_commit = off`);
    await runOk('bash', [SCRIPT, 'halt'], { env });
    await runOk('bash', [SCRIPT, 'resume'], { env });
    await psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', user);
    await psql(`GRANT pg_read_all_stats TO ${user}`);
    await psql(`GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO ${user}`, user);
  } catch (err) {
    await stop();
    throw err;
  }
  const version = await psql('SHOW server_version');
  const maxConnections = Number(await psql('SHOW max_connections'));
  log(`  PostgreSQL ${version} on 127.0.0.1:${port} (data ${dir}; fsync on, synchronous_commit off, pg_stat_statements)`);

  // One bench-side pool per database, for seeding and reading statistics.
  const pools = new Map();
  const poolFor = (db) => {
    if (!pools.has(db)) pools.set(db, new pg.Pool({ connectionString: url(db), max: 2 }));
    return pools.get(db);
  };
  let dbCount = 0;

  return {
    port,
    version,
    maxConnections,
    dataDir: `${dir}/data`,
    url,
    psql,
    /** A new, empty database owned by the bench user; returns its URL. */
    async createDatabase(label) {
      const name = `${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${++dbCount}`;
      await psql(`CREATE DATABASE "${name}" OWNER ${user}`);
      return { name, url: url(name) };
    },
    query: (sql, params = [], db = user) => poolFor(db).query(sql, params),
    /** The postmaster's pid (its children are the backends), for CPU accounting. */
    postmasterPid: () => Number(readFileSync(`${dir}/data/postmaster.pid`, 'utf8').split('\n')[0]),
    async resetStatements() {
      await poolFor(user).query('SELECT pg_stat_statements_reset()');
    },
    /** Every statement run in database `db` since the last reset: calls, rows, server-side time (ms). */
    async statements(db) {
      const { rows } = await poolFor(user).query(
        `SELECT s.query, s.calls::float8 AS calls, s.rows::float8 AS rows, s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms,
                s.shared_blks_dirtied::float8 AS dirtied, s.wal_records::float8 AS wal_records
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = $1 ORDER BY s.total_exec_time DESC`,
        [db],
      );
      return rows;
    },
    async stop() {
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => undefined)));
      pools.clear();
      await stop();
    },
  };
}
