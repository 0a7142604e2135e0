/**
 * Every error is JSON `{statusCode, error, code, message}`; bad input is a 4xx naming what
 * was wrong, never a 500 or a stack trace.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

function expectErrorShape(res: LightMyRequestResponse, status: number, error: string): { code: string; message: string } {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json();
  expect(body).toMatchObject({ statusCode: status, error, code: expect.stringMatching(/^[a-z][a-z0-9_]*$/), message: expect.any(String) });
  expect(res.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|\.js:\d+/);
  expect(body).not.toHaveProperty('stack');
  return body;
}

describe('error answers', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  it('answers an unknown route with a JSON 404', async () => {
    const body = expectErrorShape(await s.app.inject({ method: 'GET', url: '/no/such/route?x=1' }), 404, 'Not Found');
    expect(body.code).toBe('not_found');
    expectErrorShape(await s.app.inject({ method: 'DELETE', url: '/auth/login' }), 404, 'Not Found');
  });

  it('answers malformed JSON with a JSON 400 that does not echo the body', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"username":"admin","password":"Echo-Me-Not-123"',
    });
    expectErrorShape(res, 400, 'Bad Request');
    expect(res.body).not.toContain('Echo-Me-Not-123');
  });

  it('answers an empty JSON body with a JSON 400', async () => {
    const res = await s.app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '' });
    expectErrorShape(res, 400, 'Bad Request');
  });

  it('answers a wrong content type on a JSON route with a JSON 415', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await s.app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { 'content-type': contentType },
        payload: 'username=admin&password=x',
      });
      expectErrorShape(res, 415, 'Unsupported Media Type');
    }
  });

  it('names the field in a validation error', async () => {
    const missing = expectErrorShape(await s.app.inject({ method: 'POST', url: '/auth/login', payload: { password: 'x' } }), 400, 'Bad Request');
    expect(missing.message).toContain('body.username');
    const wrongType = expectErrorShape(await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 42, password: 'x' } }), 400, 'Bad Request');
    expect(wrongType.message).toContain('body.username');
    const query = expectErrorShape(await s.asService({ method: 'POST', url: '/v1/files/generate-token?user_id=u1&expires_hours=soon' }), 400, 'Bad Request');
    expect(query.message).toContain('expires_hours');
    const nested = expectErrorShape(
      await s.asService({ method: 'PATCH', url: '/v1/admin/users/whoever', payload: { quota_gb: 'lots' } }),
      400,
      'Bad Request',
    );
    expect(nested.message).toContain('body.quota_gb');
  });

  it('answers a body over the JSON limit with a JSON 413', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ username: 'admin', password: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expectErrorShape(res, 413, 'Payload Too Large');
  });

  it('answers odd but harmless input without a 500', async () => {
    const cases: LightMyRequestResponse[] = [
      await s.app.inject({ method: 'POST', url: '/auth/login', payload: 'null', headers: { 'content-type': 'application/json' } }),
      await s.app.inject({ method: 'POST', url: '/auth/login', payload: '[]', headers: { 'content-type': 'application/json' } }),
      await s.app.inject({ method: 'POST', url: '/auth/login', payload: '{"__proto__":{"x":1}}', headers: { 'content-type': 'application/json' } }),
      await s.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'a.b.c' } }),
      await s.app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: 'Bearer a.b.c' } }),
      await s.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: 'auth_token=%E0%A4%A' } }),
      await s.asService({ method: 'GET', url: `/v1/admin/users/${'x'.repeat(500)}` }),
    ];
    for (const res of cases) {
      expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, res.body).toBeLessThan(500);
      expect(res.json()).toMatchObject({ statusCode: res.statusCode, code: expect.any(String), message: expect.any(String) });
    }
  });

  it('answers a malformed percent-escape in the URL with the JSON error shape', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/v1/files/metadata/storage/u1/%ED%A0%80_x' });
    const body = expectErrorShape(res, 400, 'Bad Request');
    expect(body.code).toBe('bad_url');
  });
});
