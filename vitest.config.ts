import { defineConfig } from 'vitest/config';

/**
 * Four projects in one run (`npm test`):
 *  - `default`: every suite, on the embedded engines (SQLite, local disk) unless a suite picks
 *    another itself (the PostgreSQL and S3 conformance, outage and two-instance suites do);
 *  - `postgres`: the suites that drive the HTTP routes through `startTestServer` once more,
 *    each server on a fresh PostgreSQL schema (SL_TEST_DATABASE=postgres, test/helpers/app.ts),
 *    so every route is seen answering from PostgreSQL too;
 *  - `s3`: the uploads, serving, ZIP and seed-client suites once more with the bytes on the test
 *    S3 server, each server on a fresh key prefix (SL_TEST_STORAGE=s3), records in SQLite;
 *  - `postgres-s3`: the core of those (parts, completion, one-request uploads, downloads, ZIP,
 *    the seed client) on PostgreSQL + S3, the scale-out deployment.
 * `npx vitest run --project default` (or `postgres`, `s3`, `postgres-s3`) runs one of them.
 */
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' as const };

const ON_POSTGRES = ['test/files/*.test.ts', 'test/serve/*.test.ts', 'test/auth/*.test.ts', 'test/http/errors.test.ts', 'test/ops/metrics.test.ts', 'test/events/webhooks.test.ts'];

/** Left out of the `postgres` project, and why. */
const NOT_ON_POSTGRES = [
  // One case of each reads the SQLite file itself (bytes per batch row, a token or refresh
  // token never stored in clear); the rest of each passes on PostgreSQL.
  'test/serve/batch-download.test.ts',
  'test/serve/batch-limits.test.ts',
  'test/auth/refresh-grace.test.ts',
  // About the embedded engines by nature: key files in AUTH_KEYS_DIR, the SQLite bootstrap.
  'test/auth/key-store-file.test.ts',
  'test/auth/admin-bootstrap.test.ts',
  // About the disk and nginx's X-Accel-Redirect, a browser, archive formats at scale, the
  // password-hashing queue or memory while streaming: the metadata engine plays no part, and
  // they are among the slowest suites.
  'test/serve/accel-long-keys.test.ts',
  'test/serve/xss-browser.test.ts',
  'test/serve/zip64.test.ts',
  'test/auth/login-flood.test.ts',
  'test/files/memory.test.ts',
  'test/files/orphans.test.ts',
  // Covered on PostgreSQL by their own suites, and slow: part-vs-complete races (test/db's
  // races in worker threads, the two-instance suites), the login throttle (FailureCounts
  // conformance, two-instance login failures).
  'test/files/complete-race.test.ts',
  'test/auth/login-lockout.test.ts',
  // Transport and headers, not records: the typed client, raw sockets, CSRF, content headers.
  'test/http/openapi-client.test.ts',
  'test/serve/socket.test.ts',
  'test/serve/xss-headers.test.ts',
  'test/auth/cookie-csrf.test.ts',
  // Pure functions, no server: nothing to run twice.
  'test/files/names.test.ts',
  'test/files/names-mime.test.ts',
  'test/serve/batch-archive.test.ts',
  'test/serve/decide.test.ts',
  'test/serve/disposition.test.ts',
  'test/serve/download-service.test.ts',
  'test/serve/multipart.test.ts',
  'test/serve/range.test.ts',
  'test/serve/signed-urls.test.ts',
  'test/serve/zip-entry-namer.test.ts',
  'test/auth/auth-services.test.ts',
  'test/files/move-kill9.test.ts', // real server processes on SQLite (disk and S3), whatever the project
  'test/files/folders-scale.test.ts', // its own 100k-file SQLite table (pg-listing-plans holds PostgreSQL)
  'test/files/move-close-race.test.ts', // S3 interleavings forced on its own S3 place; the lease's SQL is the LeaseStore conformance's
];

/** A machine without PostgreSQL may opt out (SL_TEST_POSTGRES=off): the project is then not defined. */
const postgres = process.env.SL_TEST_POSTGRES !== 'off' || !!process.env.TEST_POSTGRES_URL;

/**
 * Suites whose servers store bytes, run with the bytes on S3. Left out: suites about the disk
 * itself (X-Accel-Redirect in storage-access and accel-long-keys, disk full), paging through
 * thousands of rows or objects (housekeeping-paging makes 2,200 uploads and orphans 1,500
 * objects: ~30 s each on Swift; the S3 store's own paging is held by its conformance and
 * test/storage/s3-*.test.ts), the browser and header suites (the bytes served are the same),
 * pure functions. complete-race runs 40 + 4 races on S3 (not 500 + 20): ~9 s on Swift.
 */
const ON_S3 = [
  'test/files/parts.test.ts',
  'test/files/complete.test.ts',
  'test/files/complete-race.test.ts',
  'test/files/one-request.test.ts',
  'test/files/store-form.test.ts',
  'test/files/transport.test.ts',
  'test/files/limits.test.ts',
  'test/files/quota.test.ts',
  'test/files/expiry-reconcile.test.ts',
  'test/files/names-http.test.ts',
  'test/files/seed-client.test.ts',
  'test/serve/get.test.ts',
  'test/serve/storage.test.ts',
  'test/serve/batch-download.test.ts',
  'test/serve/zip-names.test.ts',
  'test/serve/zip64.test.ts',
  'test/serve/zip-read-ahead.test.ts', // the read-ahead's streams are S3 sockets there
  'test/tus/tus-client.test.ts', // tus tails and concatenation through the S3 store (~12 s on Swift)
  'test/files/move.test.ts', // moves of aliases and whole objects (folder listings and deletes are records, and deletes of both)
  'test/files/signed-upload.test.ts', // whole files cut into S3 parts, parts and completes by URL
];
/**
 * On PostgreSQL + S3: the path every byte takes (init, parts and complete, one request, read,
 * ZIP, the seed client). parts.test.ts runs on each engine alone (its 1,000-upload batch costs
 * ~16 s on Swift); the two-instance uploads suite runs on PostgreSQL + S3 in `default`.
 */
const ON_POSTGRES_S3 = [
  'test/files/complete.test.ts',
  'test/files/one-request.test.ts',
  'test/files/seed-client.test.ts',
  'test/serve/get.test.ts',
  'test/serve/storage.test.ts',
  'test/serve/zip-names.test.ts', // ZIP batches (batch-download reads the SQLite file in one case)
];
/** A machine that cannot run Swift may opt out (SL_TEST_S3=off): the S3 projects are then not defined. */
const s3 = process.env.SL_TEST_S3 !== 'off' || !!process.env.TEST_S3_ENDPOINT;

export default defineConfig({
  test: {
    // Once per run, for every project: builds dist/, starts the test PostgreSQL cluster and S3 server.
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
    projects: [
      { test: { name: 'default', include: ['test/**/*.test.ts'], ...shared } },
      ...(postgres ? [{ test: { name: 'postgres', include: ON_POSTGRES, exclude: NOT_ON_POSTGRES, env: { SL_TEST_DATABASE: 'postgres' }, ...shared } }] : []),
      ...(s3 ? [{ test: { name: 's3', include: ON_S3, env: { SL_TEST_STORAGE: 's3' }, ...shared } }] : []),
      ...(s3 && postgres ? [{ test: { name: 'postgres-s3', include: ON_POSTGRES_S3, env: { SL_TEST_STORAGE: 's3', SL_TEST_DATABASE: 'postgres' }, ...shared } }] : []),
    ],
  },
});
