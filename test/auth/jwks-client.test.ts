/**
 * A stock JWKS client (jose's createRemoteJWKSet) on a real socket verifies our tokens
 * offline, with only the discovery document's issuer and our audience.
 */
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

describe('verification by a stock JWKS client over HTTP', () => {
  let s: TestServer;
  let base: string;
  beforeAll(async () => {
    s = await startTestServer();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => s.close());

  it('verifies a login token and a generate-token token against the served JWKS', async () => {
    const discovery = await fetch(`${base}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const { issuer, jwks_uri } = (await discovery.json()) as { issuer: string; jwks_uri: string };
    // jwks_uri names PUBLIC_BASE_URL; fetch the same path from this socket.
    const JWKS = createRemoteJWKSet(new URL(new URL(jwks_uri).pathname, base));

    const login = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: s.adminPassword }),
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };

    const minted = await fetch(`${base}/v1/files/generate-token?user_id=remote-user&expires_hours=1`, {
      method: 'POST',
      headers: { 'x-service-token': s.serviceToken },
    });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };

    const audience = s.config.auth.audience;
    const a = await jwtVerify(access_token, JWKS, { issuer, audience, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(a.payload).toMatchObject({ username: 'admin', role: 'admin', type: 'access' });
    const b = await jwtVerify(token, JWKS, { issuer, audience, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(b.payload).toMatchObject({ sub: 'remote-user', user_id: 'remote-user', type: 'access' });

    await expect(jwtVerify(token, JWKS, { issuer: 'https://someone-else', audience })).rejects.toThrow();
  });
});
