/**
 * Tools for the auth tests: the server's own signing key read through its KeyStore
 * (so a test can mint a token that differs from a real one in exactly one respect),
 * raw JWS assembly for headers jose would refuse to write, and the 401 expectation.
 */
import { createHmac, createPrivateKey, randomUUID, sign as cryptoSign } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { signerOf, type StoredKey } from '../../src/auth/key-store.js';
import { keyRingOptions } from '../../src/context.js';
import type { TestServer } from '../helpers/app.js';

/** Every key in the server's key store, retired ones included. */
export function storedKeys(s: TestServer): Promise<StoredKey[]> {
  return keyRingOptions(s.config, s.app.ctx.store).store.list();
}

/** The key the server signs with (the ring's rule: the greatest one not retired). */
export async function activeKey(s: TestServer): Promise<StoredKey> {
  const key = signerOf(await storedKeys(s), s.config.auth.alg);
  if (!key) throw new Error('no active key');
  return key;
}

export const b64u = (data: Buffer | string | object): string =>
  Buffer.from(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data)).toString('base64url');

export const now = (): number => Math.floor(Date.now() / 1000);

/** Claims exactly as the server issues them for an operator `userId`. */
export function standardClaims(s: TestServer, userId: string): JWTPayload {
  const t = now();
  return {
    iss: s.config.auth.issuer,
    aud: s.config.auth.audience,
    sub: userId,
    user_id: userId,
    username: userId,
    role: 'operator',
    roles: ['operator'],
    scope: 'files:read files:write files:delete',
    iat: t,
    exp: t + 600,
    jti: randomUUID(),
    type: 'access',
  };
}

/**
 * Signs with the server's own private key. `claims` are merged over the standard ones;
 * a claim set to undefined is left out. `header` is merged over {alg, kid, typ: "at+jwt"}.
 */
export async function mintWithServerKey(
  s: TestServer,
  userId: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = await activeKey(s);
  const payload = Object.fromEntries(Object.entries({ ...standardClaims(s, userId), ...claims }).filter(([, v]) => v !== undefined));
  const privateKey = await importJWK(key.privateJwk, key.alg);
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }).sign(privateKey);
}

/** A compact JWS over any header, signed with node:crypto (no library checks in the way). */
export function signRaw(header: Record<string, unknown>, payload: object, privateJwk: JWK): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  const key = createPrivateKey({ key: privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  const alg = header.alg;
  const signature =
    alg === 'ES256'
      ? cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : alg === 'RS256'
        ? cryptoSign('sha256', Buffer.from(input), key)
        : cryptoSign(null, Buffer.from(input), key);
  return `${input}.${b64u(signature)}`;
}

/** HS256 over header.payload with `secret` as the MAC key. */
export function hmacJwt(header: Record<string, unknown>, payload: object, secret: Buffer | string): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function login(s: TestServer, username: string, password: string): Promise<LightMyRequestResponse> {
  return s.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
}

/** Creates a user through the admin route (service token) and returns its id. */
export async function createUser(s: TestServer, username: string, password: string, role = 'operator'): Promise<string> {
  const res = await s.asService({ method: 'POST', url: '/v1/admin/users', payload: { username, password, role } });
  if (res.statusCode !== 201) throw new Error(`create user failed: ${res.statusCode} ${res.body}`);
  return res.json().id as string;
}

/** The RFC 6750 answer to a bad token: 401, the challenge header, the JSON error shape. */
export function expectInvalidToken(res: LightMyRequestResponse): void {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(res.json()).toEqual({ statusCode: 401, error: 'Unauthorized', code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) });
  expect(res.body).not.toMatch(/\n\s+at /); // no stack trace
}

/** The RFC 6750 §3.1 answer when no credentials were sent: 401 and a bare `Bearer` challenge. */
export function expectNoCredentials(res: LightMyRequestResponse): void {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toBe('Bearer');
  expect(res.json()).toEqual({ statusCode: 401, error: 'Unauthorized', code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) });
}

/** The order of the P-256 group. */
const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

/** The same ECDSA signature with s replaced by n − s: a second valid signature. */
export function flipS(token: string): string {
  const [h, p, sig] = token.split('.');
  const raw = Buffer.from(sig!, 'base64url');
  const s = BigInt('0x' + raw.subarray(32).toString('hex'));
  const flipped = Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex');
  return `${h}.${p}.${Buffer.concat([raw.subarray(0, 32), flipped]).toString('base64url')}`;
}
