/**
 * Forged tokens: every one is refused with the same RFC 6750 answer. Each attack is built
 * from a token the server would accept, changed in one respect, and the unchanged token is
 * checked to pass first, so a test fails if the server stops telling the two apart.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { activeKey, b64u, expectInvalidToken, hmacJwt, mintWithServerKey, signRaw, standardClaims } from './jwt-kit.js';

describe('forged access tokens are refused', () => {
  let s: TestServer;
  let good: string; // a token minted by the server for user "alice"
  let invalidBody: unknown;
  const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
  const files = (token: string) => s.asBearer(token, { method: 'GET', url: '/v1/files/all' });

  /** 401 on both protected routes, with exactly the body a garbage token gets. */
  async function refused(token: string): Promise<void> {
    for (const res of [await me(token), await files(token)]) {
      expectInvalidToken(res);
      expect(res.json()).toEqual(invalidBody);
    }
  }

  beforeAll(async () => {
    s = await startTestServer();
    good = await s.tokenFor('alice');
    const garbage = await me('not-a-jwt');
    expectInvalidToken(garbage);
    invalidBody = garbage.json();
  });
  afterAll(async () => s.close());

  it('accepts the untouched token and a self-minted copy (the baseline every attack departs from)', async () => {
    expect((await me(good)).statusCode).toBe(200);
    expect((await files(good)).statusCode).toBe(200);
    expect((await me(await mintWithServerKey(s, 'alice'))).statusCode).toBe(200);
  });

  it.each(['none', 'None', 'NONE', 'nOnE'])('refuses alg "%s" with and without a signature', async (alg) => {
    const [, payload, signature] = good.split('.');
    const header = b64u({ alg, kid: (await activeKey(s)).kid, typ: 'at+jwt' });
    await refused(`${header}.${payload}.`);
    await refused(`${header}.${payload}.${signature}`);
    await refused(`${header}.${payload}`);
  });

  describe('HS256 MACed with the public key', () => {
    let jwk: JWK;
    let claims: object;
    const header = () => ({ alg: 'HS256', kid: jwk.kid, typ: 'at+jwt' });
    beforeAll(async () => {
      jwk = (await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys[0];
      claims = { ...standardClaims(s, 'alice'), role: 'admin', roles: ['admin'] };
    });

    it('as PEM SPKI text', async () => {
      const pem = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      await refused(hmacJwt(header(), claims, pem as string));
      await refused(hmacJwt(header(), claims, (pem as string).trim()));
    });

    it('as the JWK JSON bytes', async () => {
      await refused(hmacJwt(header(), claims, JSON.stringify(jwk)));
      const { kty, crv, x, y } = jwk;
      await refused(hmacJwt(header(), claims, JSON.stringify({ crv, kty, x, y })));
    });

    it('as the raw point x||y (and 04||x||y)', async () => {
      const xy = Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
      await refused(hmacJwt(header(), claims, xy));
      await refused(hmacJwt(header(), claims, Buffer.concat([Buffer.from([4]), xy])));
    });
  });

  it('refuses a payload changed to admin under the original signature', async () => {
    const [header, payload, signature] = good.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const tampered = b64u({ ...claims, role: 'admin', roles: ['admin'], scope: 'files:read files:write files:delete users:admin' });
    await refused(`${header}.${tampered}.${signature}`);
  });

  it('refuses a stripped signature (header.payload.)', async () => {
    const [header, payload] = good.split('.');
    await refused(`${header}.${payload}.`);
  });

  it('refuses an ES256 signature with r = s = 0', async () => {
    const [header, payload] = good.split('.');
    await refused(`${header}.${payload}.${b64u(Buffer.alloc(64))}`);
  });

  describe("an attacker's own key named in the header", () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk = attacker.privateKey.export({ format: 'jwk' }) as JWK;
    const publicJwk = attacker.publicKey.export({ format: 'jwk' }) as JWK;
    const adminClaims = () => ({ ...standardClaims(s, 'alice'), role: 'admin', roles: ['admin'] });

    it('refuses an embedded jwk header, under our kid and under its own', async () => {
      const ownKid = await calculateJwkThumbprint(publicJwk);
      for (const kid of [(await activeKey(s)).kid, ownKid, undefined]) {
        await refused(signRaw({ alg: 'ES256', typ: 'at+jwt', kid, jwk: publicJwk }, adminClaims(), privateJwk));
      }
    });

    it('refuses a jku pointing at http://127.0.0.1:1/jwks', async () => {
      const ownKid = await calculateJwkThumbprint(publicJwk);
      for (const kid of [(await activeKey(s)).kid, ownKid]) {
        await refused(signRaw({ alg: 'ES256', typ: 'at+jwt', kid, jku: 'http://127.0.0.1:1/jwks' }, adminClaims(), privateJwk));
      }
    });

    it('refuses a kid that names no key of ours (and one with no kid at all)', async () => {
      await refused(signRaw({ alg: 'ES256', typ: 'at+jwt', kid: 'unknown-key' }, adminClaims(), privateJwk));
      await refused(signRaw({ alg: 'ES256', typ: 'at+jwt' }, adminClaims(), privateJwk));
      // Our own signature, but a kid that is not in the ring.
      await refused(await mintWithServerKey(s, 'alice', {}, { kid: 'unknown-key' }));
      await refused(await mintWithServerKey(s, 'alice', {}, { kid: undefined }));
    });
  });
});
