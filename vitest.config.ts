import { defineConfig } from 'vitest/config';

/**
 * Two projects in one run (`npm test`):
 *  - `default`: every suite, on the embedded engines (SQLite, local disk) unless a suite picks
 *    another itself (the PostgreSQL conformance, outage and two-instance suites do);
 *  - `postgres`: the suites that drive the HTTP routes through `startTestServer` once more,
 *    each server on a fresh PostgreSQL schema (SL_TEST_DATABASE=postgres, test/helpers/app.ts),
 *    so every route is seen answering from PostgreSQL too.
 * `npx vitest run --project default` (or `postgres`) runs one of them.
 */
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' as const };

const ON_POSTGRES = ['test/files/*.test.ts', 'test/serve/*.test.ts', 'test/auth/*.test.ts', 'test/http/errors.test.ts', 'test/ops/metrics.test.ts'];

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
];

/** A machine without PostgreSQL may opt out (SL_TEST_POSTGRES=off): the project is then not defined. */
const postgres = process.env.SL_TEST_POSTGRES !== 'off' || !!process.env.TEST_POSTGRES_URL;

export default defineConfig({
  test: {
    // Once per run, for both projects: builds dist/, starts the test PostgreSQL cluster.
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
    projects: [
      { test: { name: 'default', include: ['test/**/*.test.ts'], ...shared } },
      ...(postgres ? [{ test: { name: 'postgres', include: ON_POSTGRES, exclude: NOT_ON_POSTGRES, env: { SL_TEST_DATABASE: 'postgres' }, ...shared } }] : []),
    ],
  },
});
