/**
 * F-10: tokens of an external issuer were checked less than ours: `role: admin` gave user
 * management, a `sub` naming a local viewer acted as admin, a token without `jti` survived
 * logout, and a key configured without issuer/audience took any token it signed, silently.
 * Now: external roles stop at operator unless AUTH_JWT_EXTERNAL_TRUST_ROLES=true, a local user
 * never gets more than their own role, a jti-less token is revoked by a hash of its claims,
 * and a loose configuration is warned about at start.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { startTestServer, tempDir, testEnv, type TestServer } from '../helpers/app.js';
import { createUser, expectInvalidToken, flipS, now } from './jwt-kit.js';

const ISS = 'https://idp.example.com';
const AUD = 'stream-line-files';

const pemBase64 = (key: KeyObject): string => Buffer.from(key.export({ type: 'spki', format: 'pem' }) as string).toString('base64');


describe('F-10 external tokens', () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const external = (claims: Record<string, unknown> = {}): Promise<string> => {
    const t = now();
    const payload = Object.fromEntries(
      Object.entries({ iss: ISS, aud: AUD, sub: 'ext-user', iat: t, exp: t + 600, ...claims }).filter(([, v]) => v !== undefined),
    );
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256' }).sign(pair.privateKey);
  };
  const env = { AUTH_JWT_PUBLIC_KEY_BASE64: pemBase64(pair.publicKey), AUTH_JWT_EXTERNAL_ISSUER: ISS, AUTH_JWT_EXTERNAL_AUDIENCE: AUD };

  describe('by default (AUTH_JWT_EXTERNAL_TRUST_ROLES=false)', () => {
    let s: TestServer;
    const me = (token: string) => s.asBearer(token, { method: 'GET', url: '/auth/me' });
    beforeAll(async () => {
      s = await startTestServer(env);
    });
    afterAll(async () => s.close());

    it('caps role=admin at operator: no user management, no acting for others', async () => {
      const token = await external({ role: 'admin', scope: 'files:read files:write files:delete users:admin' });
      expect((await me(token)).json()).toMatchObject({ role: 'operator', scopes: ['files:read', 'files:write', 'files:delete'] });
      expect((await s.asBearer(token, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(403);
      expect((await s.asBearer(token, { method: 'GET', url: '/v1/files/all?user_id=someone-else' })).statusCode).toBe(403);
    });

    it("gives a sub naming a local viewer no more than that viewer's role, whatever the claim", async () => {
      const id = await createUser(s, 'vic', 'vic-Passw0rd!', 'viewer');
      const token = await external({ sub: id, role: 'admin' });
      expect((await me(token)).json()).toMatchObject({ id, role: 'viewer', scopes: ['files:read'] });
      const init = await s.asBearer(token, { method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'x', size: 1 }] } });
      expect(init.statusCode).toBe(403);
    });

    it('revokes a token without jti at logout, however its signature is re-encoded; its siblings live on', async () => {
      const token = await external({ jti: undefined });
      const sibling = await external({ jti: undefined, sub: 'ext-user-2' });
      const highS = flipS(token);
      expect((await me(highS)).statusCode).toBe(200); // the same token, another valid signature
      const out = await s.asBearer(token, { method: 'POST', url: '/auth/logout' });
      expect(out.statusCode).toBe(200);
      expect(out.json()).toEqual({ message: 'Logged out' });
      expectInvalidToken(await me(token));
      expectInvalidToken(await me(highS));
      expect((await me(sibling)).statusCode).toBe(200);
    });

    it('still revokes a token with a jti by its jti', async () => {
      const token = await external({ jti: randomUUID() });
      expect((await s.asBearer(token, { method: 'POST', url: '/auth/logout' })).statusCode).toBe(200);
      expectInvalidToken(await me(token));
    });
  });

  describe('AUTH_JWT_EXTERNAL_TRUST_ROLES=true', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ ...env, AUTH_JWT_EXTERNAL_TRUST_ROLES: 'true' });
    });
    afterAll(async () => s.close());

    it('takes role=admin at its word for a user we do not manage, but never above a local user’s own role', async () => {
      const admin = await external({ role: 'admin' });
      expect((await s.asBearer(admin, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(200);
      const id = await createUser(s, 'opal', 'opal-Passw0rd!', 'operator');
      const local = await external({ sub: id, role: 'admin' });
      expect((await s.asBearer(local, { method: 'GET', url: '/auth/me' })).json()).toMatchObject({ role: 'operator' });
      expect((await s.asBearer(local, { method: 'GET', url: '/v1/admin/users' })).statusCode).toBe(403);
    });
  });

  describe('start-up warning', () => {
    const warningsWith = async (extra: Record<string, string>): Promise<string[]> => {
      const root = await tempDir();
      const lines: string[] = [];
      const config = loadConfig(testEnv(root, { LOG_LEVEL: 'warn', AUTH_JWT_PUBLIC_KEY_BASE64: pemBase64(pair.publicKey), ...extra }));
      const app = await buildApp(config, { logStream: { write: (line) => lines.push(line) } });
      await app.close();
      await fs.rm(root, { recursive: true, force: true });
      return lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg);
    };

    it('warns when the external key is configured without issuer and audience', async () => {
      const none = await warningsWith({});
      expect(none).toHaveLength(1);
      expect(none[0]).toContain('AUTH_JWT_EXTERNAL_ISSUER');
      expect(none[0]).toContain('AUTH_JWT_EXTERNAL_AUDIENCE');
      const noAudience = await warningsWith({ AUTH_JWT_EXTERNAL_ISSUER: ISS });
      expect(noAudience).toHaveLength(1);
      expect(noAudience[0]).not.toContain('AUTH_JWT_EXTERNAL_ISSUER');
      expect(await warningsWith({ AUTH_JWT_EXTERNAL_ISSUER: ISS, AUTH_JWT_EXTERNAL_AUDIENCE: AUD })).toEqual([]);
    });
  });
});
