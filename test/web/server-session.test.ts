/**
 * The browser's cookie session over HTTP: POST /auth/login {"session":"cookie"} sets HttpOnly,
 * SameSite=Strict cookies (access at /, refresh at /auth/ only) and answers no token; refresh by
 * cookie rotates both, logout expires both and revokes the session; every cookie-carrying unsafe
 * request obeys the same-origin rule (Origin / Sec-Fetch-Site).
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';

const OWN = 'http://files.test'; // PUBLIC_BASE_URL of the test server
const TRUSTED = 'https://app.example';

interface SetCookie {
  name: string;
  value: string;
  attrs: Map<string, string>;
}

function setCookies(res: LightMyRequestResponse): Map<string, SetCookie> {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out = new Map<string, SetCookie>();
  for (const line of lines) {
    const [pair, ...rest] = line.split(';');
    const eq = pair!.indexOf('=');
    const attrs = new Map(rest.map((a) => a.trim().split('=') as [string, string?]).map(([k, v]) => [k.toLowerCase(), v ?? ''] as [string, string]));
    out.set(pair!.slice(0, eq).trim(), { name: pair!.slice(0, eq).trim(), value: decodeURIComponent(pair!.slice(eq + 1)), attrs });
  }
  return out;
}

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ CORS_ORIGINS: TRUSTED, ACCESS_TOKEN_TTL: '10m', REFRESH_TOKEN_TTL: '2d', REFRESH_REUSE_GRACE_SECONDS: '0' });
});
afterAll(() => server.close());

async function cookieLogin(headers: Record<string, string> = { origin: OWN }): Promise<LightMyRequestResponse> {
  return server.app.inject({
    method: 'POST',
    url: '/auth/login',
    headers,
    payload: { username: 'admin', password: server.adminPassword, session: 'cookie' },
  });
}

/** A browser's Cookie header from the session cookies a response set. */
function cookieHeader(res: LightMyRequestResponse, which: Array<'auth_token' | 'auth_refresh'> = ['auth_token', 'auth_refresh']): string {
  const set = setCookies(res);
  return which.map((name) => `${name}=${set.get(name)!.value}`).join('; ');
}

describe('POST /auth/login {"session":"cookie"}', () => {
  it('sets the access cookie for / and the refresh cookie for /auth/ only, HttpOnly and SameSite=Strict, and answers no token', async () => {
    const res = await cookieLogin();
    expect(res.statusCode).toBe(200);
    const set = setCookies(res);
    const access = set.get('auth_token')!;
    const refresh = set.get('auth_refresh')!;
    expect(access.value.split('.')).toHaveLength(3);
    expect(Object.fromEntries(access.attrs)).toEqual({ path: '/', 'max-age': '600', httponly: '', samesite: 'Strict' });
    expect(refresh.value.split('.')).toHaveLength(3);
    expect(Object.fromEntries(refresh.attrs)).toEqual({ path: '/auth/', 'max-age': String(2 * 86400), httponly: '', samesite: 'Strict' });
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      session: 'cookie',
      token_type: 'cookie',
      expires_in: 600,
      refresh_expires_in: 2 * 86400,
      user: expect.objectContaining({ username: 'admin', role: 'admin' }),
    });
    expect(res.body).not.toContain(access.value);
    expect(res.body).not.toContain(refresh.value);

    // The access cookie alone is a credential everywhere; reads need no Origin.
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(res, ['auth_token']) } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ username: 'admin' });
    const files = await server.app.inject({ method: 'GET', url: '/v1/files/usage', headers: { cookie: cookieHeader(res, ['auth_token']) } });
    expect(files.statusCode).toBe(200);
  });

  it('marks both cookies Secure when PUBLIC_BASE_URL is https', async () => {
    const https = await startTestServer({ PUBLIC_BASE_URL: 'https://files.example' });
    try {
      const res = await https.app.inject({
        method: 'POST',
        url: '/auth/login',
        headers: { origin: 'https://files.example' },
        payload: { username: 'admin', password: https.adminPassword, session: 'cookie' },
      });
      expect(res.statusCode).toBe(200);
      for (const cookie of setCookies(res).values()) expect(cookie.attrs.has('secure'), cookie.name).toBe(true);
    } finally {
      await https.close();
    }
  });

  it('without "session" stays a token login: tokens in the body, no cookie', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: server.adminPassword } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer' });
  });

  it('is refused (403 csrf_rejected, no cookie) from another site, allowed from a CORS_ORIGINS origin or same-origin fetch metadata', async () => {
    for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, {}] as Record<string, string>[]) {
      const res = await cookieLogin(headers);
      expect(res.statusCode, JSON.stringify(headers)).toBe(403);
      expect(res.json()).toMatchObject({ code: 'csrf_rejected' });
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    for (const headers of [{ origin: TRUSTED }, { 'sec-fetch-site': 'same-origin' }] as Record<string, string>[]) {
      expect((await cookieLogin(headers)).statusCode, JSON.stringify(headers)).toBe(200);
    }
  });

  it('refuses a wrong password without setting anything', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { origin: OWN },
      payload: { username: 'admin', password: 'wrong-password', session: 'cookie' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});

describe('POST /auth/refresh by cookie', () => {
  it('rotates both cookies; the spent refresh cookie later revokes the session and its reply expires the cookies', async () => {
    const login = await cookieLogin();
    for (const payload of [undefined, {}]) {
      // No body at all, or {}: both mean "use the cookie".
      const res = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(login, ['auth_refresh']) }, ...(payload ? { payload } : {}) });
      if (payload === undefined) {
        expect(res.statusCode).toBe(200);
        const set = setCookies(res);
        expect(set.get('auth_token')!.value).not.toBe(setCookies(login).get('auth_token')!.value);
        expect(set.get('auth_refresh')!.value).not.toBe(setCookies(login).get('auth_refresh')!.value);
        expect(set.get('auth_refresh')!.attrs.get('path')).toBe('/auth/');
        expect(res.json()).toEqual({ session: 'cookie', token_type: 'cookie', expires_in: 600, refresh_expires_in: 2 * 86400 });
        const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(res, ['auth_token']) } });
        expect(me.statusCode).toBe(200);
      } else {
        // The login's refresh cookie again (grace 0 here): reuse, the family is revoked.
        expect(res.statusCode).toBe(401);
        const set = setCookies(res);
        expect(set.get('auth_token')).toMatchObject({ value: '', attrs: expect.any(Map) });
        expect(set.get('auth_token')!.attrs.get('max-age')).toBe('0');
        expect(set.get('auth_refresh')!.attrs.get('max-age')).toBe('0');
        expect(set.get('auth_refresh')!.attrs.get('path')).toBe('/auth/');
      }
    }
    // Reuse revoked the family: the login's access cookie no longer works either.
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(login, ['auth_token']) } });
    expect(me.statusCode).toBe(401);
  });

  it('is refused from another site without spending the token; no cookie and no body is 401', async () => {
    const login = await cookieLogin();
    const cross = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: 'https://evil.example', cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(cross.statusCode).toBe(403);
    expect(cross.json()).toMatchObject({ code: 'csrf_rejected' });
    expect(cross.headers['set-cookie']).toBeUndefined();
    const same = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'sec-fetch-site': 'same-origin', cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(same.statusCode).toBe(200);

    const none = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN }, payload: {} });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('with a refresh_token in the body stays a token refresh (a pair in the body, no cookie), even beside a cookie', async () => {
    const tokens = (await server.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'admin', password: server.adminPassword } })).json() as { refresh_token: string };
    const login = await cookieLogin();
    const res = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: cookieHeader(login, ['auth_refresh']) }, payload: { refresh_token: tokens.refresh_token } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.json()).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
    // The cookie's token was not spent by that call.
    const byCookie = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(byCookie.statusCode).toBe(200);
  });
});

describe('POST /auth/logout by cookie', () => {
  it('expires both cookies and revokes the access token and the refresh cookie\'s family', async () => {
    const login = await cookieLogin();
    const res = await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: OWN, cookie: cookieHeader(login) } });
    expect(res.statusCode).toBe(200);
    const set = setCookies(res);
    expect(Object.fromEntries(set.get('auth_token')!.attrs)).toEqual({ path: '/', 'max-age': '0', httponly: '', samesite: 'Strict' });
    expect(Object.fromEntries(set.get('auth_refresh')!.attrs)).toEqual({ path: '/auth/', 'max-age': '0', httponly: '', samesite: 'Strict' });
    expect(set.get('auth_token')!.value).toBe('');
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(login, ['auth_token']) } });
    expect(me.statusCode).toBe(401);
    const refresh = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(refresh.statusCode).toBe(401);
  });

  it('works with the refresh cookie alone (the access cookie lapsed), which ends the whole session', async () => {
    const login = await cookieLogin();
    const res = await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: OWN, cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(res.statusCode).toBe(200);
    expect(setCookies(res).get('auth_refresh')!.attrs.get('max-age')).toBe('0');
    // Its family is revoked: the refresh cookie and the access token issued with it are dead.
    const refresh = await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(login, ['auth_refresh']) } });
    expect(refresh.statusCode).toBe(401);
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(login, ['auth_token']) } });
    expect(me.statusCode).toBe(401);

    // A revoked access cookie beside a live refresh cookie: logged out by the latter.
    const second = await cookieLogin();
    await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: OWN, cookie: cookieHeader(second, ['auth_token']) } });
    const third = await cookieLogin();
    const mixed = `${cookieHeader(second, ['auth_token'])}; ${cookieHeader(third, ['auth_refresh'])}`;
    expect((await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: OWN, cookie: mixed } })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(third, ['auth_refresh']) } })).statusCode).toBe(401);

    // Nothing at all, or the refresh cookie from another site: refused.
    expect((await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: OWN } })).statusCode).toBe(401);
    const fourth = await cookieLogin();
    const cross = await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: 'https://evil.example', cookie: cookieHeader(fourth, ['auth_refresh']) } });
    expect(cross.statusCode).toBe(403);
    expect((await server.app.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: OWN, cookie: cookieHeader(fourth, ['auth_refresh']) } })).statusCode).toBe(200);
  });

  it('is refused from another site and the session lives on', async () => {
    const login = await cookieLogin();
    const res = await server.app.inject({ method: 'POST', url: '/auth/logout', headers: { origin: 'https://evil.example', cookie: cookieHeader(login) } });
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    const me = await server.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: cookieHeader(login, ['auth_token']) } });
    expect(me.statusCode).toBe(200);
  });
});
