/**
 * Secrets never reach the log, at any level: Authorization, cookies, X-Service-Token,
 * `sig=` and token query values, passwords and refresh tokens in bodies.
 */
import fs from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { tempDir, testEnv } from '../helpers/app.js';

describe('log redaction', () => {
  let app: FastifyInstance;
  let root: string;
  let env: Record<string, string>;
  const lines: string[] = [];
  const stream = { write: (line: string) => void lines.push(line) };

  beforeAll(async () => {
    root = await tempDir();
    env = testEnv(root, { LOG_LEVEL: 'trace' });
    app = await buildApp(loadConfig(env), { logStream: stream });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('keeps every credential out of the log', async () => {
    const password = env.ADMIN_PASSWORD!;
    const wrongPassword = 'Wrong-Password-4f9a1c';
    const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password } });
    expect(login.statusCode).toBe(200);
    const { access_token: access, refresh_token: refresh } = login.json();
    const service = env.AUTH_SERVICE_TOKEN!;
    const cookieSecret = 'Cookie-Secret-77e1b0';
    const sig = 'SigValue0123456789abcdef';
    const queryToken = 'QueryToken-5a5a5a';

    await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: wrongPassword } });
    await app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: `{"username":"admin","password":"${wrongPassword}"`, // malformed JSON
    });
    await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${access}` } });
    await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${access}x` } });
    await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: `auth_token=${access}; session=${cookieSecret}` } });
    await app.inject({ method: 'GET', url: '/v1/files/all?user_id=u1', headers: { 'x-service-token': service } });
    await app.inject({ method: 'GET', url: '/v1/files/all?user_id=u1', headers: { 'x-service-token': `${service}-wrong` } });
    await app.inject({ method: 'GET', url: `/get/storage/u1/abc_file.txt?exp=9999999999&sig=${sig}` });
    await app.inject({ method: 'GET', url: `/auth/me?token=${queryToken}&access_token=${queryToken}` });
    await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refresh } });
    await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${access}` }, payload: { refresh_token: refresh } });

    const log = lines.join('');
    // The log is really there, at trace level, and names the requests.
    expect(lines.length).toBeGreaterThan(20);
    expect(log).toContain('/auth/login');
    expect(log).toContain('sig=[redacted]');

    const secrets = {
      password,
      wrongPassword,
      access,
      accessSignature: access.split('.')[2],
      refreshSignature: refresh.split('.')[2],
      service,
      cookieSecret,
      sig,
      queryToken,
    };
    for (const [name, value] of Object.entries(secrets)) {
      expect(log.includes(value!), `${name} appears in the log`).toBe(false);
    }
  });
});
