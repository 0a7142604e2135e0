/**
 * The SDK over every route family against the real server on a real socket: auth (login,
 * me, refresh when the access token is refused or about to expire, logout), admin users,
 * service tokens, files (one-request upload, paged listing, metadata, usage, signed URLs,
 * Range downloads, ZIP batches, delete, folders, moves), signed upload URLs, webhook deliveries, JWKS; retries (503/429 with Retry-After waited for,
 * a dropped connection retried, 4xx never retried) and typed errors.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StreamLineClient, StreamLineError, StreamLineNetworkError, type SessionTokens } from '../../src/client/index.js';
import { patternBytes, startHttpProxy, startSdkServer, type HttpProxy, type SdkServer } from './sdk-kit.js';

const fast = { minDelayMs: 10, maxDelayMs: 50 };
let srv: SdkServer;
let proxy: HttpProxy;

beforeAll(async () => {
  srv = await startSdkServer({ ACCESS_TOKEN_TTL: '60' });
  proxy = await startHttpProxy(srv.port);
});
afterAll(async () => {
  await proxy?.close();
  await srv?.close();
});
afterEach(() => {
  proxy.intercept = undefined;
  vi.useRealTimers();
});
const requests = (pathPrefix: string, from = 0) => proxy.seen.slice(from).filter((r) => r.url.startsWith(pathPrefix));

describe('SDK auth and admin', () => {
  it('logs in (bearer), manages users as admin, and the new user logs in, sees herself, logs out', async () => {
    const admin = new StreamLineClient({ baseUrl: proxy.url });
    const login = await admin.auth.login('admin', srv.s.adminPassword);
    expect(login.user.role).toBe('admin');
    const alice = await admin.admin.createUser({ username: 'alice', password: 'alice-password', role: 'viewer' });
    expect(alice).toMatchObject({ username: 'alice', role: 'viewer', is_active: true });
    expect((await admin.admin.listUsers()).map((u) => u.username)).toContain('alice');
    expect(await admin.admin.updateUser(alice.id, { role: 'operator', quota_gb: 2 })).toMatchObject({ role: 'operator', quota_gb: 2 });
    const taken = await admin.admin.createUser({ username: 'alice', password: 'another-password' }).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(StreamLineError);
    expect(taken).toMatchObject({ status: 409, code: 'username_taken' });

    const seen: Array<SessionTokens | null> = [];
    const sl = new StreamLineClient({ baseUrl: proxy.url, onTokens: (t) => seen.push(t) });
    await sl.auth.login('alice', 'alice-password');
    expect(await sl.auth.me()).toMatchObject({ username: 'alice', role: 'operator', quota_bytes: 2 * 1024 ** 3 });
    const access = sl.auth.tokens.accessToken!;
    await sl.auth.logout();
    expect(seen.map((t) => (t === null ? null : typeof t.refreshToken))).toEqual(['string', null]);
    const revoked = new StreamLineClient({ baseUrl: proxy.url, accessToken: access, retry: { retries: 0 } });
    await expect(revoked.auth.me()).rejects.toMatchObject({ status: 401, code: 'invalid_token' });

    await admin.admin.deleteUser(alice.id);
    await expect(admin.admin.getUser(alice.id)).rejects.toMatchObject({ status: 404, code: 'user_not_found' });
  });

  it('a refused access token is renewed with the refresh token once, and the request sent again', async () => {
    const first = new StreamLineClient({ baseUrl: proxy.url });
    const { refresh_token } = await first.auth.login('admin', srv.s.adminPassword);
    const rotated: SessionTokens[] = [];
    // An access token the server refuses (as it refuses an expired one: 401 invalid_token).
    const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: 'x.e30.y', refreshToken: refresh_token, onTokens: (t) => t && rotated.push(t) });
    const from = proxy.seen.length;
    expect((await sl.auth.me()).username).toBe('admin');
    expect(requests('/auth/', from).map((r) => r.url)).toEqual(['/auth/me', '/auth/refresh', '/auth/me']);
    expect(rotated).toHaveLength(1);
    expect(rotated[0]!.refreshToken).not.toBe(refresh_token);
    // A refresh the server refuses ends the session: the error comes back, not a loop.
    const dead = new StreamLineClient({ baseUrl: proxy.url, accessToken: 'x.e30.y', refreshToken: 'not-a-refresh-token' });
    await expect(dead.auth.me()).rejects.toMatchObject({ status: 401 });
    expect(dead.auth.tokens.refreshToken).toBeUndefined();
  });

  it('refreshes before sending when the access token has expired (ACCESS_TOKEN_TTL=60, clock moved 2 minutes on)', async () => {
    const sl = new StreamLineClient({ baseUrl: proxy.url });
    await sl.auth.login('admin', srv.s.adminPassword);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 120_000 });
    const from = proxy.seen.length;
    expect((await sl.auth.me()).username).toBe('admin');
    expect(requests('/auth/', from).map((r) => r.url)).toEqual(['/auth/refresh', '/auth/me']);
  });

  it('a service token mints user tokens and acts for the client default user; JWKS and discovery', async () => {
    const svc = new StreamLineClient({ baseUrl: proxy.url, serviceToken: srv.s.serviceToken, userId: 'svc-user' });
    const minted = await svc.admin.generateToken({ user_id: 'svc-user', expires_hours: 1 });
    expect(minted).toMatchObject({ token_type: 'bearer', user_id: 'svc-user' });
    const stored = await svc.uploads.uploadSmall([{ data: new Blob(['hi']), name: 'hi.txt' }]);
    expect(stored[0]!.user_id).toBe('svc-user');
    expect((await svc.files.usage()).user_id).toBe('svc-user');
    const asUser = new StreamLineClient({ baseUrl: proxy.url, accessToken: minted.token });
    expect((await asUser.files.list()).files.map((f) => f.filename)).toEqual(['hi.txt']);
    const jwks = await svc.auth.jwks();
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect((await svc.auth.openIdConfiguration()).jwks_uri).toMatch(/jwks\.json$/);
  });
});

describe('SDK webhook deliveries', () => {
  it('lists deliveries by status, page by page (listEvents, allEvents); a user token is refused', async () => {
    // Written straight into the outbox: this server has no WEBHOOK_URLS, so no worker sends them.
    const ids = ['msg_sdk_1', 'msg_sdk_2', 'msg_sdk_3'];
    for (const id of ids) {
      const payload = JSON.stringify({ type: 'file.created', id, created_at: new Date().toISOString(), data: { key: id } });
      await srv.s.app.ctx.store.outbox.append({ id, type: 'file.created', userId: 'sdk-hooks', createdAt: Date.now(), payload, urls: ['http://hooks.test/a'] });
    }
    const svc = new StreamLineClient({ baseUrl: proxy.url, serviceToken: srv.s.serviceToken });
    const first = await svc.admin.listEvents({ status: 'pending', limit: 2 });
    expect(first.deliveries.map((d) => d.id)).toEqual(['msg_sdk_3', 'msg_sdk_2']); // newest first
    expect(first.deliveries[0]).toMatchObject({ type: 'file.created', url: 'http://hooks.test/a', user_id: 'sdk-hooks', status: 'pending', attempts: 0, payload: { data: { key: 'msg_sdk_3' } } });
    expect(first.next_cursor).toEqual(expect.any(String));
    const rest = await svc.admin.listEvents({ status: 'pending', limit: 2, cursor: first.next_cursor! });
    expect(rest.deliveries.map((d) => d.id)).toEqual(['msg_sdk_1']);
    const before = proxy.seen.length;
    const all: string[] = [];
    for await (const d of svc.admin.allEvents({ status: 'pending', limit: 1 })) all.push(d.id);
    expect(all).toEqual(['msg_sdk_3', 'msg_sdk_2', 'msg_sdk_1']);
    const sent = requests('/v1/admin/events', before).map((r) => new URL(r.url, 'http://x').searchParams);
    expect(sent.length).toBeGreaterThanOrEqual(3); // a page per delivery (and an empty one when the last was full)
    expect(sent.every((q) => q.get('limit') === '1' && q.get('status') === 'pending')).toBe(true);
    expect(sent.slice(1).every((q) => q.get('cursor'))).toBe(true);
    expect((await svc.admin.listEvents({ status: 'failed' })).deliveries).toEqual([]);
    const user = new StreamLineClient({ baseUrl: proxy.url, accessToken: await srv.s.tokenFor('sdk-hooks') });
    await expect(user.admin.listEvents()).rejects.toMatchObject({ status: 403 });
  });
});

describe('SDK files', () => {
  it('lists page by page, reads metadata, signs URLs, serves ranges and ZIPs, deletes', async () => {
    const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: await srv.s.tokenFor('lister') });
    const bodies = [0, 1, 2, 3, 4].map((i) => patternBytes(1000 + i, i + 1));
    for (const [i, b] of bodies.entries()) await sl.uploads.upload(new Blob([b]), { name: `f${i}.bin`, folder: 'list', singleRequestMaxBytes: 1 << 20 });
    const pages = [];
    for await (const page of sl.files.pages({ folder: 'list', limit: 2 })) pages.push(page.files.length);
    expect(pages).toEqual([2, 2, 1]);
    const all = [];
    for await (const f of sl.files.iterate({ folder: 'list', limit: 2 })) all.push(f.filename);
    expect(all.sort()).toEqual(['f0.bin', 'f1.bin', 'f2.bin', 'f3.bin', 'f4.bin']);

    const rec = (await sl.files.list({ folder: 'list', limit: 10 })).files.find((f) => f.filename === 'f3.bin')!;
    expect(await sl.files.metadata(rec.key)).toEqual(rec);
    const signed = await sl.files.signedUrl(rec.key, { expiresIn: 60 });
    const viaSigned = await fetch(signed.url.replace('http://files.test', srv.url));
    expect(Buffer.from(await viaSigned.arrayBuffer()).equals(bodies[3]!)).toBe(true);
    const part = await sl.files.download(rec.key, { range: { start: 10, end: 19 } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bodies[3]!.subarray(10, 20))).toBe(true);

    const batch = await sl.files.batch({ keys: [rec.key], name: 'one.zip' });
    expect(batch.count).toBe(1);
    const zip = Buffer.from(await (await sl.files.batchDownload(batch.token)).arrayBuffer());
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');

    await sl.files.delete(rec.key);
    const gone = await sl.files.metadata(rec.key).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(StreamLineError);
    expect(gone).toMatchObject({ status: 404, code: 'file_not_found' });
    expect((gone as StreamLineError).message).not.toBe('');
    // Moving a file that is gone: a typed 404.
    await expect(sl.files.move({ from: rec.key, to: 'elsewhere/' })).rejects.toMatchObject({ status: 404 });
  });
});

describe('SDK signed upload URLs, folders, moves', () => {
  it('a backend mints a signed upload URL; a client without credentials sends the file in parts (or whole) through it', async () => {
    const svc = new StreamLineClient({ baseUrl: proxy.url, serviceToken: srv.s.serviceToken, userId: 'signee' });
    const data = patternBytes(9 * 1024 * 1024 + 5, 21);
    const minted = await svc.uploads.signedUploadUrl({ name: 'signed.bin', size: data.length, folder: 'in' });
    expect(minted.partCount).toBe(2);
    // The URL names the server's PUBLIC_BASE_URL (http://files.test here): sent to the same server through the proxy.
    const url = minted.url.replace('http://files.test', proxy.url);
    const anonymous = new StreamLineClient({ baseUrl: proxy.url, accessToken: 'never-sent' });
    const from = proxy.seen.length;
    const rec = await anonymous.uploads.uploadToSignedUrl(url, new Blob([data]), { partSize: minted.partSize, concurrency: 2 });
    expect(rec).toMatchObject({ filename: 'signed.bin', folder: 'in', user_id: 'signee', size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    const sent = proxy.seen.slice(from);
    expect(sent.map((r) => r.method).sort()).toEqual(['POST', 'PUT', 'PUT']);
    expect(sent.every((r) => r.headers.authorization === undefined && r.headers['x-service-token'] === undefined)).toBe(true);

    const small = await svc.uploads.signedUploadUrl({ name: 'small.txt', size: 5 });
    const whole = await anonymous.uploads.uploadToSignedUrl(small.url.replace('http://files.test', proxy.url), new Blob(['hello']));
    expect(whole).toMatchObject({ filename: 'small.txt', size: 5 });
  });

  it('lists folders, moves a file, deletes a folder', async () => {
    const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: await srv.s.tokenFor('mover') });
    const rec = await sl.uploads.upload(new Blob(['to move']), { name: 'm.txt', folder: 'a/b', singleRequestMaxBytes: 1024 });
    expect((await sl.files.folders()).map((f) => f.name)).toEqual(['a']);
    const moved = await sl.files.move({ from: rec.key, to: 'c/' });
    expect(moved).toHaveLength(1);
    expect((await sl.files.metadata(moved[0]!.to)).folder).toBe('c');
    expect(await sl.files.deleteFolder('c')).toMatchObject({ deleted: 1 });
  });
});

describe('SDK retries', () => {
  it('waits out a 503 and a 429 with Retry-After, retries a dropped connection, never retries a 4xx', async () => {
    const sl = new StreamLineClient({ baseUrl: proxy.url, accessToken: await srv.s.tokenFor('retrier'), retry: fast });
    let faults = ['503', '429'];
    proxy.intercept = (r) => {
      if (!r.url.startsWith('/v1/files/usage')) return undefined;
      const f = faults.shift();
      return f ? { status: Number(f), headers: { 'retry-after': '1' }, body: JSON.stringify({ statusCode: Number(f), error: 'x', code: f === '503' ? 'storage_unavailable' : 'too_many_requests', message: 'later' }) } : undefined;
    };
    const t0 = Date.now();
    const start = proxy.seen.length;
    expect((await sl.files.usage()).user_id).toBe('retrier');
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThan(10_000);
    expect(requests('/v1/files/usage', start).length).toBe(3);

    faults = [];
    let drops = 1;
    proxy.intercept = (r) => (r.url.startsWith('/v1/files/all') && drops-- > 0 ? 'drop' : undefined);
    const retried: StreamLineError[] = [];
    const page = await sl.request({ path: '/v1/files/all', onRetry: (e) => retried.push(e) });
    expect(page.status).toBe(200);
    expect(retried).toHaveLength(1);
    expect(retried[0]).toBeInstanceOf(StreamLineNetworkError);

    const from = proxy.seen.length;
    await expect(sl.files.metadata('storage/retrier/0123456789abcdef0123456789abcdef_x.bin')).rejects.toMatchObject({ status: 404, code: 'file_not_found' });
    expect(proxy.seen.length - from).toBe(1);

    // Out of tries: the last error comes back typed; nothing reachable at all is a network error.
    proxy.intercept = (r) => (r.url.startsWith('/v1/files/usage') ? { status: 502, body: '' } : undefined);
    await expect(sl.files.usage()).rejects.toMatchObject({ status: 502, code: 'http_error' });
    const nowhere = new StreamLineClient({ baseUrl: 'http://127.0.0.1:9', retry: { retries: 1, ...fast } });
    await expect(nowhere.auth.jwks()).rejects.toBeInstanceOf(StreamLineNetworkError);
  });
});
