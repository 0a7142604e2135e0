/**
 * The small-GET path (issue 18): a token's signature is verified once and its claims cached
 * until `exp` (AccessVerifier), and the guard's onRequest hook passes routes without a rule
 * without a promise. A cached token must still be refused at once on both download paths —
 * `/storage` (the handler calls the guard) and the metadata route (the hook) — after logout
 * and after the user is disabled; a token whose `exp` lies beyond the clock tolerance never
 * passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storageUrl, storeFile } from '../serve/serve-helpers.js';
import { createUser, expectInvalidToken, login, mintWithServerKey, now } from './jwt-kit.js';

describe('cached tokens on the download paths', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ PUBLIC_STORAGE: 'false' });
  });
  afterAll(async () => s.close());

  const paths = (file: FileRecord) => [storageUrl(file.key), `/v1/files/metadata/${file.key.split('/').map(encodeURIComponent).join('/')}`];
  const getAll = (token: string, file: FileRecord) => Promise.all(paths(file).map((url) => s.asBearer(token, { method: 'GET', url })));
  const setup = async (name: string) => {
    const id = await createUser(s, name, `${name}-password-1`);
    const token = (await login(s, name, `${name}-password-1`)).json().access_token as string;
    const file = await storeFile(s, id, 'small.txt', 'small bytes', { mime: 'text/plain' });
    // Used twice: verified, then answered from the cache.
    for (let i = 0; i < 2; i++) for (const res of await getAll(token, file)) expect(res.statusCode, res.body).toBe(200);
    return { id, token, file };
  };

  it('refused right after logout', async () => {
    const { token, file } = await setup('erin');
    expect((await s.asBearer(token, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
    for (const res of await getAll(token, file)) expectInvalidToken(res);
  });

  it('refused right after the user is disabled, and again usable by a new login once enabled', async () => {
    const { id, token, file } = await setup('frank');
    expect((await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: false } })).statusCode).toBe(200);
    for (const res of await getAll(token, file)) expectInvalidToken(res);
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: true } });
    const fresh = (await login(s, 'frank', 'frank-password-1')).json().access_token as string;
    for (const res of await getAll(fresh, file)) expect(res.statusCode).toBe(200);
  });

  it('a token past exp (beyond the tolerance) is refused, one still valid passes', async () => {
    const id = await createUser(s, 'gina', 'gina-password-1');
    const file = await storeFile(s, id, 'small.txt', 'small bytes', { mime: 'text/plain' });
    for (const res of await getAll(await mintWithServerKey(s, id, { iat: now() - 3600, exp: now() - 120 }), file)) expectInvalidToken(res);
    for (const res of await getAll(await mintWithServerKey(s, id, { iat: now() - 10, exp: now() + 600 }), file)) expect(res.statusCode).toBe(200);
  });
});
