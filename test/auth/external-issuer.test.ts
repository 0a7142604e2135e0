/**
 * Tokens from an external issuer, configured as a PEM public key (AUTH_JWT_PUBLIC_KEY_BASE64)
 * or a JWKS URL (AUTH_JWT_JWKS_URL): accepted with the same checks as ours; `sub` (or
 * `user_id`) names the user; a role is honoured up to operator, anything else becomes operator
 * (the caps on external roles: external-roles.test.ts).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { b64u, createUser, expectInvalidToken, hmacJwt, now } from './jwt-kit.js';

const ISS = 'https://idp.example.com';
const AUD = 'stream-line-files';

function pemBase64(key: KeyObject): string {
  return Buffer.from(key.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
}

function externalToken(key: KeyObject, alg: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const t = now();
  const payload = Object.fromEntries(
    Object.entries({ iss: ISS, aud: AUD, sub: 'ext-user', iat: t, exp: t + 600, ...claims }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg, ...header }).sign(key);
}

describe.each([
  ['RSA', 'RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['EC P-256', 'ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
])('AUTH_JWT_PUBLIC_KEY_BASE64 with an %s key', (_kind, alg, generate) => {
  const pair = generate();
  const other = generate();
  let s: TestServer;
  const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
  const list = (token: string, userId?: string) =>
    s.asBearer(token, { method: 'GET', url: `/v1/files/all${userId ? `?user_id=${userId}` : ''}` });

  beforeAll(async () => {
    s = await startTestServer({ AUTH_JWT_PUBLIC_KEY_BASE64: pemBase64(pair.publicKey), AUTH_JWT_EXTERNAL_ISSUER: ISS, AUTH_JWT_EXTERNAL_AUDIENCE: AUD });
  });
  afterAll(async () => s.close());

  it('accepts a token naming the user by sub, and acts for that user only', async () => {
    const token = await externalToken(pair.privateKey, alg);
    expect((await list(token)).statusCode).toBe(200);
    expect((await list(token, 'ext-user')).statusCode).toBe(200);
    expect((await list(token, 'someone-else')).statusCode).toBe(403);
    expect((await me(token)).json()).toMatchObject({ id: 'ext-user', role: 'operator' });
  });

  it('accepts a token naming the user only by user_id', async () => {
    const token = await externalToken(pair.privateKey, alg, { sub: undefined, user_id: 'ext-user-2' });
    expect((await list(token, 'ext-user-2')).statusCode).toBe(200);
    expect((await me(token)).json()).toMatchObject({ id: 'ext-user-2' });
  });

  it('honours role "viewer", caps "admin" at operator and turns an unknown role into operator', async () => {
    const viewer = await externalToken(pair.privateKey, alg, { role: 'viewer' });
    expect((await me(viewer)).json()).toMatchObject({ role: 'viewer', scopes: ['files:read'] });
    const admin = await externalToken(pair.privateKey, alg, { role: 'admin' });
    expect((await me(admin)).json().role).toBe('operator');
    expect((await list(admin, 'someone-else')).statusCode).toBe(403);
    const odd = await externalToken(pair.privateKey, alg, { role: 'superuser' });
    expect((await me(odd)).json().role).toBe('operator');
    expect((await list(odd, 'someone-else')).statusCode).toBe(403);
  });

  it.each([
    ['a wrong iss', { iss: 'https://evil.example' }],
    ['a wrong aud', { aud: 'someone-else' }],
    ['no exp', { exp: undefined }],
    ['an expired exp', { iat: now() - 3600, exp: now() - 120 }],
    ['iat in the future', { iat: now() + 600, exp: now() + 1200 }],
    ['type "refresh"', { type: 'refresh' }],
    ['no user at all', { sub: undefined }],
    ['an invalid user id', { sub: '../../etc' }],
  ])('refuses %s', async (_name, claims) => {
    expectInvalidToken(await list(await externalToken(pair.privateKey, alg, claims)));
  });

  it('refuses a token signed by another key', async () => {
    expectInvalidToken(await list(await externalToken(other.privateKey, alg)));
  });

  it('refuses HS256 MACed with the configured PEM', async () => {
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const t = now();
    const claims = { iss: ISS, aud: AUD, sub: 'ext-user', role: 'admin', iat: t, exp: t + 600 };
    expectInvalidToken(await list(hmacJwt({ alg: 'HS256', typ: 'JWT' }, claims, pem)));
    expectInvalidToken(await list(hmacJwt({ alg: 'HS256', typ: 'JWT' }, claims, Buffer.from(pemBase64(pair.publicKey), 'base64'))));
    expectInvalidToken(await list(`${b64u({ alg: 'none' })}.${b64u(claims)}.`));
  });

  it('refuses the token of a disabled local user, and a revoked one', async () => {
    const id = await createUser(s, `local-${alg}`, 'local-password-1');
    const token = await externalToken(pair.privateKey, alg, { sub: id });
    expect((await me(token)).statusCode).toBe(200);
    await s.asService({ method: 'PATCH', url: `/v1/admin/users/${id}`, payload: { is_active: false } });
    expectInvalidToken(await me(token));

    const withJti = await externalToken(pair.privateKey, alg, { jti: randomUUID() });
    expect((await s.asBearer(withJti, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
    expectInvalidToken(await me(withJti));
  });

  it('still accepts our own tokens', async () => {
    expect((await me(await s.adminToken())).statusCode).toBe(200);
  });
});

describe('AUTH_JWT_JWKS_URL', () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let jwksServer: http.Server;
  let s: TestServer;
  let requests = 0;

  beforeAll(async () => {
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'idp-key-1', alg: 'ES256', use: 'sig' };
    jwksServer = http.createServer((req, res) => {
      requests++;
      if (req.url !== '/jwks') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    s = await startTestServer({ AUTH_JWT_JWKS_URL: url, AUTH_JWT_EXTERNAL_ISSUER: ISS, AUTH_JWT_EXTERNAL_AUDIENCE: AUD });
  });
  afterAll(async () => {
    await s.close();
    await new Promise((r) => jwksServer.close(r));
  });

  it('accepts a token signed by a key in the remote JWKS', async () => {
    const token = await externalToken(pair.privateKey, 'ES256', { role: 'viewer' }, { kid: 'idp-key-1' });
    const res = await s.asBearer(token, { method: 'GET', url: '/auth/me' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: 'ext-user', role: 'viewer', scopes: ['files:read'] });
    expect(requests).toBeGreaterThan(0);
  });

  it('refuses a key that is not in the JWKS, a wrong issuer and HS256', async () => {
    const list = (token: string) => s.asBearer(token, { method: 'GET', url: '/v1/files/all' });
    expectInvalidToken(await list(await externalToken(stranger.privateKey, 'ES256', {}, { kid: 'idp-key-1' })));
    expectInvalidToken(await list(await externalToken(stranger.privateKey, 'ES256', {}, { kid: 'idp-key-2' })));
    expectInvalidToken(await list(await externalToken(pair.privateKey, 'ES256', { iss: 'https://evil.example' }, { kid: 'idp-key-1' })));
    const jwkText = JSON.stringify(await exportJWK(pair.publicKey));
    expectInvalidToken(await list(hmacJwt({ alg: 'HS256', kid: 'idp-key-1' }, { iss: ISS, aud: AUD, sub: 'x', exp: now() + 60 }, jwkText)));
  });
});
