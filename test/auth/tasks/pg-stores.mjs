// Opens the PostgreSQL auth stores in a task thread, each on a pool of its own (another
// instance): the KeyStore for key-ring.mjs, the FailureCounts for failure-counts.mjs.
// Imports the built server (dist/), as every task does.
const dist = (file) => import(new URL(`../../../dist/${file}`, import.meta.url).href);

async function pool(url, max) {
  const { PgClient } = await dist('db/pg/client.js');
  return new PgClient(url, { max });
}

export async function openKeyStore({ url, secret }) {
  const [{ PgKeyStore }, { KeySealer }] = await Promise.all([dist('db/pg/key-store.js'), dist('auth/key-store-seal.js')]);
  return new PgKeyStore(await pool(url, 2), new KeySealer(secret));
}

export async function openFailureCounts({ url, connections = 4 }) {
  const { PgFailureCounts } = await dist('db/pg/login-failures.js');
  const db = await pool(url, connections);
  const counts = new PgFailureCounts(db);
  counts.close = () => db.close();
  return counts;
}
