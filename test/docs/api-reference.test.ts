/**
 * docs/api.md stays the reference of the code it describes (issue #11): every operation of the
 * generated OpenAPI document has a line there naming its method and path, every error code a
 * route can raise is listed, and every limit variable is explained.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_NAMES } from '../../src/config/schema.js';
import * as errors from '../../src/errors/index.js';
import { REPO } from '../config/run-dist.js';
import { startTestServer, type TestServer } from '../helpers/app.js';

const { AppError, ERROR_CODES } = errors;
/** `new X(…)` for the error classes of src/errors (and any `…Error`), and `super(…)`. */
const errorClasses = Object.entries(errors).flatMap(([name, value]) =>
  typeof value === 'function' && (value === AppError || value.prototype instanceof AppError) ? [name] : [],
);
const ERROR_CALL = new RegExp(`(?:new (?:${errorClasses.join('|')}|\\w+Error)|super)\\(([\\s\\S]*?)\\);`, 'g');

const reference = await fs.readFile(path.join(REPO, 'docs', 'api.md'), 'utf8');
const lines = reference.split('\n');

/** How the reference writes the paths whose OpenAPI parameter stands for a whole key. */
const WRITTEN_AS: Record<string, string> = {
  '/storage/{path}': '/storage/{user_id}/{folder…}/{id}_{filename}',
  '/get/{encodedKey}': '/get/{base64url(key)}',
};

/** A line that names `method` and exactly `docPath` (not a longer path that starts with it). */
function documented(method: string, docPath: string): boolean {
  const exact = new RegExp(`${docPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_/{}.-])`);
  const verb = new RegExp(`\\b${method}\\b`);
  return lines.some((line) => exact.test(line) && verb.test(line));
}

let server: TestServer;
let doc: { paths: Record<string, Record<string, unknown>> };

beforeAll(async () => {
  server = await startTestServer({ METRICS_TOKEN: 'metrics-token-for-the-reference' });
  doc = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json();
});
afterAll(async () => server?.close());

describe('docs/api.md', () => {
  it('names every operation of /openapi.json', () => {
    const operations = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(operations.length).toBeGreaterThan(25);
    const missing = operations.filter((op) => {
      const [method, p] = op.split(' ') as [string, string];
      return !documented(method, WRITTEN_AS[p] ?? p);
    });
    expect(missing).toEqual([]);
  });

  it('lists every error code the source raises', async () => {
    const files = (await fs.readdir(path.join(REPO, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    const codes = new Set<string>();
    for (const file of files) {
      const text = await fs.readFile(path.join(REPO, 'src', file), 'utf8');
      // The snake_case literals among the arguments of `new …(…)` error and `super(…)` calls…
      for (const call of text.matchAll(ERROR_CALL)) {
        for (const literal of call[1]!.matchAll(/'([a-z][a-z0-9]*(?:_[a-z0-9]+)+)'/g)) codes.add(literal[1]!);
      }
      // …and those written outside the error classes: `code: 'x'`, `errorBody(408, 'x', …)`.
      for (const m of text.matchAll(/(?:\bcode:\s*|\(\s*[1-5]\d\d,\s*)'([a-z][a-z0-9]*(?:_[a-z0-9]+)+)'/g)) codes.add(m[1]!);
    }
    // …and every code of the closed union (src/errors/codes.ts), raised or not by a literal.
    for (const code of ERROR_CODES) codes.add(code);
    expect(codes.size).toBeGreaterThan(40);
    expect([...codes].filter((code) => !reference.includes(`\`${code}\``)).sort()).toEqual([]);
  });

  it('explains every limit the configuration has', () => {
    const limits = ENV_NAMES.filter((n) => /^(MAX_|BATCH_|PASSWORD_HASH_|REFRESH_REUSE_|BODY_|LOGIN_RATE_|SIGNED_URL_MAX_|PER_USER_QUOTA_|UPLOAD_EXPIRY_|AUTH_JWT_EXTERNAL_TRUST_)/.test(n));
    expect(limits.length).toBeGreaterThan(15);
    expect(limits.filter((n) => !reference.includes(`\`${n}\``))).toEqual([]);
  });
});
