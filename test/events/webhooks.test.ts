/**
 * Webhooks end to end, with a real HTTP receiver on loopback (WEBHOOK_ALLOW_PRIVATE=true):
 * each event type arrives signed (checked by the standardwebhooks library's own verifier), a
 * receiver that is down gets the events later in order, events written before a restart go
 * out after it, a slow receiver never slows the request, and the admin list shows it all.
 */
import fs from 'node:fs/promises';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryWorker } from '../../src/events/worker.js';
import { encodeKeyPath } from '../../src/files/keys.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/app.js';
import { multipartBody, uploadFile, initOne } from '../files/upload-kit.js';
import { Receiver, ShiftedClock, until } from './receiver.js';

const SECRET = 'webhook-secret-for-the-tests-0123';
const verifier = new Webhook(Buffer.from(SECRET, 'utf8'), { format: 'raw' });

function hookEnv(url: string): Record<string, string> {
  return { WEBHOOK_URLS: url, WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: 'true', UPLOAD_EXPIRY_HOURS: '1' };
}

async function storeForm(s: TestServer, userId: string, name: string): Promise<string> {
  const form = multipartBody([{ name: 'file', filename: name, data: Buffer.from(`bytes of ${name}`) }]);
  const res = await s.asService({ method: 'POST', url: `/v1/files?user_id=${userId}`, headers: { 'content-type': form.contentType }, payload: form.body });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json();
  return (body.files?.[0]?.key ?? body.key) as string;
}

describe('webhooks', () => {
  let receiver: Receiver;
  let url: string;
  let s: TestServer | undefined;
  const clock = new ShiftedClock();

  beforeEach(async () => {
    receiver = new Receiver();
    url = await receiver.start();
    clock.offset = 0;
  });
  afterEach(async () => {
    await receiver.close(); // first: a delivery in flight ends at once
    await s?.close();
    s = undefined;
  });

  it('sends every event type, signed so that the standardwebhooks verifier accepts it', async () => {
    s = await startTestServer(hookEnv(url), undefined, { clock });
    const created = await s.asService({ method: 'POST', url: '/v1/admin/users', payload: { username: 'hooked', password: 'a-long-password-1', role: 'operator' } });
    expect(created.statusCode).toBe(201);
    const userId = created.json().id as string;
    const chunked = await uploadFile(s, 'alice', 'a.txt', Buffer.from('hello'));
    const formKey = await storeForm(s, 'alice', 'b.txt');
    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${encodeKeyPath(formKey)}` })).statusCode).toBe(200);
    const uploadId = await initOne(s, 'alice', { name: 'never.bin', size: 10 });
    // The sweep's own "now" (the signing clock stays real); it also drops the completed upload, which reports nothing.
    expect(await s.app.ctx.uploads.sweep(Date.now() + 2 * 3600_000)).toBe(2);
    expect((await s.asService({ method: 'PATCH', url: `/v1/admin/users/${userId}`, payload: { is_active: false } })).statusCode).toBe(200);

    expect(await until(() => receiver.received.length >= 6)).toBe(true);
    const events = receiver.events();
    for (const r of receiver.received) {
      expect(verifier.verify(r.body, r.headers)).toEqual(JSON.parse(r.body));
      expect(r.headers['webhook-id']).toBe(JSON.parse(r.body).id);
      expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    }
    expect(() => new Webhook(Buffer.from('another-secret-0123456', 'utf8'), { format: 'raw' }).verify(receiver.received[0]!.body, receiver.received[0]!.headers)).toThrow();
    // In order per user (the two users' queues interleave freely).
    const of = (pred: (e: (typeof events)[number]) => boolean) => events.filter(pred).map((e) => [e.type, e.data.key ?? e.data.upload_id ?? e.data.username]);
    expect(of((e) => e.data.user_id === 'alice')).toEqual([
      ['file.created', chunked.key],
      ['file.created', formKey],
      ['file.deleted', formKey],
      ['upload.expired', uploadId],
    ]);
    expect(of((e) => e.data.id === userId)).toEqual([
      ['user.created', 'hooked'],
      ['user.disabled', 'hooked'],
    ]);
    const user = events.find((e) => e.type === 'user.created')!;
    expect(user.data).not.toHaveProperty('passwordHash');
    expect(user.data).not.toHaveProperty('password_hash');
    expect(events.find((e) => e.type === 'file.created')!.data).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), size: 5, filename: 'a.txt' });
    expect(Date.parse(events[0]!.created_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('reports a move (file.moved, once) and a folder delete (one file.deleted per file), signed', async () => {
    s = await startTestServer(hookEnv(url), undefined, { clock });
    const key = await storeForm(s, 'mia', 'm.txt');
    const move = await s.asService({ method: 'POST', url: '/v1/files/move', payload: { from: key, to: 'docs/n.txt' } });
    expect(move.statusCode, move.body).toBe(200);
    const movedKey = move.json().moved[0].to as string;
    const other = await storeForm(s, 'mia', 'o.txt');
    const folderMove = await s.asService({ method: 'POST', url: '/v1/files/move', payload: { from: other, to: 'docs/deep/' } });
    const otherKey = folderMove.json().moved[0].to as string;
    const del = await s.asService({ method: 'DELETE', url: '/v1/files/folder?folder=docs&user_id=mia' });
    expect(del.json()).toMatchObject({ deleted: 2 });

    // The server's worker sends one event of a queue per 1 s tick; a second worker on the same
    // outbox (claims never overlap) drains the rest of mia's queue now.
    const helper = new DeliveryWorker({ outbox: s.app.ctx.store.outbox, secret: SECRET, allowPrivate: true, log: { warn: () => undefined, error: () => undefined }, holder: 'test-helper', clock });
    expect(await until(async () => (await helper.drain(), receiver.received.length >= 6))).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes (no second file.moved)
    expect(await helper.drain()).toBe(0);
    for (const r of receiver.received) expect(verifier.verify(r.body, r.headers)).toEqual(JSON.parse(r.body));
    const events = receiver.events();
    expect(events.map((e) => [e.type, e.data.key])).toEqual([
      ['file.created', key],
      ['file.moved', movedKey],
      ['file.created', other],
      ['file.moved', otherKey],
      // The folder's page, in key order.
      ...[otherKey, movedKey].sort().map((k) => ['file.deleted', k]),
    ]);
    expect(events[1]!.data).toMatchObject({ previous_key: key, previous_folder: null, folder: 'docs', filename: 'n.txt', size: 14 });
    expect(events[3]!.data).toMatchObject({ previous_key: other, previous_folder: null, folder: 'docs/deep' });
  });

  it('holds a user’s events while the receiver is down, retries after ~5 s, then delivers them in order; the admin list shows each state', async () => {
    s = await startTestServer(hookEnv(url), undefined, { clock });
    receiver.status = 500;
    const keys = [await storeForm(s, 'bob', '1.txt'), await storeForm(s, 'bob', '2.txt'), await storeForm(s, 'bob', '3.txt')];
    expect(await until(() => receiver.received.length >= 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 1100)); // a tick or so: nothing more goes out (the head waits 5 s, the rest wait for it)
    expect(receiver.received).toHaveLength(1);

    const list = async (query: string) => (await s!.asService({ method: 'GET', url: `/v1/admin/events${query}` })).json();
    const retrying = await list('?status=retrying');
    expect(retrying.deliveries).toHaveLength(1);
    const head = retrying.deliveries[0];
    expect(head).toMatchObject({ type: 'file.created', url, status: 'retrying', attempts: 1, last_error: 'HTTP 500', user_id: 'bob' });
    const wait = Date.parse(head.next_attempt_at) - Date.parse(head.last_attempt_at);
    expect(wait).toBeGreaterThanOrEqual(4500);
    expect(wait).toBeLessThanOrEqual(5500);
    expect((await list('?status=pending')).deliveries).toHaveLength(2);

    receiver.status = 200;
    clock.advance(6000);
    expect(await until(() => receiver.received.length >= 4)).toBe(true);
    const got = receiver.events();
    expect(got.map((e) => e.data.key)).toEqual([keys[0], keys[0], keys[1], keys[2]]);
    expect(got[1]!.id).toBe(got[0]!.id); // the same message id on the retry
    expect(await until(async () => (await list('?status=delivered')).deliveries.length === 3)).toBe(true);

    // Newest first, paged by cursor; admin or service only.
    const page = await list('?limit=2');
    expect(page.deliveries.map((d: { payload: { data: { key: string } } }) => d.payload.data.key)).toEqual([keys[2], keys[1]]);
    expect((await list(`?limit=2&cursor=${page.next_cursor}`)).deliveries.map((d: { payload: { data: { key: string } } }) => d.payload.data.key)).toEqual([keys[0]]);
    const admin = await s.adminToken();
    expect((await s.asBearer(admin, { method: 'GET', url: '/v1/admin/events?status=failed' })).json()).toEqual({ deliveries: [], next_cursor: null });
    expect((await s.asBearer(await s.tokenFor('bob'), { method: 'GET', url: '/v1/admin/events' })).statusCode).toBe(403);
    expect((await s.asService({ method: 'GET', url: '/v1/admin/events?status=lost' })).statusCode).toBe(400);
  });

  it('delivers events left pending by a server that stopped, once a new one starts on the same database', async () => {
    const root = await tempDir('sl-hooks-restart-');
    try {
      receiver.status = 503;
      s = await startTestServer(hookEnv(url), root, { clock });
      const key = await storeForm(s, 'carol', 'c.txt');
      expect(await until(() => receiver.received.length >= 1)).toBe(true);
      await s.close();
      s = undefined;

      receiver.status = 200;
      clock.advance(6000); // the retry is due on the new server's clock
      s = await startTestServer(hookEnv(url), root, { clock });
      expect(await until(() => receiver.received.length >= 2)).toBe(true);
      const got = receiver.events();
      expect(got.map((e) => [e.id, e.data.key])).toEqual([
        [got[0]!.id, key],
        [got[0]!.id, key],
      ]);
      expect(verifier.verify(receiver.received[1]!.body, receiver.received[1]!.headers)).toBeTruthy();
    } finally {
      await s?.close();
      s = undefined;
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('never makes the request that caused an event wait for a slow receiver', async () => {
    s = await startTestServer(hookEnv(url), undefined, { clock });
    receiver.delayMs = 4000;
    await storeForm(s, 'dave', 'warm.txt'); // its delivery is now held by the slow receiver
    expect(await until(() => receiver.received.length >= 1)).toBe(true);
    const started = performance.now();
    await storeForm(s, 'dave', 'next.txt');
    await storeForm(s, 'erin', 'other.txt');
    expect(performance.now() - started).toBeLessThan(2000); // two uploads while a delivery hangs 4 s
  });
});
