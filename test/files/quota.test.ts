/**
 * Quota and size limits: used + reserved never exceeds the quota (PER_USER_QUOTA_GB or the
 * user's override), checked atomically at init; MAX_BODY_MB per file comes first; bytes move
 * from reserved to used on complete and are freed on abort and delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { halfWritten, objectKeys } from './store-probes.js';
import { bytes, complete, init, initOne, multipartBody, putPart, usage } from './upload-kit.js';

const GiB = 1024 ** 3;

describe('quota (PER_USER_QUOTA_GB=0.01)', () => {
  let s: TestServer;
  const quota = Math.floor(0.01 * GiB);
  const sixty = Math.ceil(quota * 0.6);
  beforeAll(async () => {
    s = await startTestServer({ PER_USER_QUOTA_GB: '0.01', MAX_BODY_MB: '16' });
  });
  afterAll(async () => s.close());

  it('two concurrent inits each needing 60% of the quota: exactly one 201 and one 413 quota_exceeded', async () => {
    const one = () => init(s, 'q-race', { mode: 'single', files: [{ name: 'big.bin', size: sixty }] });
    const results = await Promise.all([one(), one()]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 413]);
    const refused = results.find((r) => r.statusCode === 413)!;
    expect(refused.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large', code: 'quota_exceeded' });
    expect(await usage(s, 'q-race')).toMatchObject({ reservedBytes: sixty, usedBytes: 0 });
  });

  it('the reservation moves to used on complete, and is freed on abort and on delete', async () => {
    const user = 'q-life';
    const id = await initOne(s, user, { name: 'a.bin', size: 1000 }, { mode: 'single' });
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 1000, usedBytes: 0 });
    await putPart(s, id, 1, bytes(1000));
    const rec = (await complete(s, id)).json();
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 0, usedBytes: 1000, fileCount: 1 });

    const aborted = await initOne(s, user, { name: 'b.bin', size: quota - 1000 }, { mode: 'single' });
    expect((await init(s, user, { mode: 'single', files: [{ name: 'c', size: 1 }] })).statusCode).toBe(413);
    await s.asService({ method: 'DELETE', url: `/v1/files/upload/${aborted}` });
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 0, usedBytes: 1000 });

    expect((await s.asService({ method: 'DELETE', url: `/v1/files/${encodeURI(rec.key)}` })).statusCode).toBe(200);
    expect(await usage(s, user)).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
    expect((await init(s, user, { mode: 'single', files: [{ name: 'all', size: quota }] })).statusCode).toBe(201);
  });

  it('a batch is reserved as a whole: over the quota, none of its uploads is created', async () => {
    const files = [{ name: 'a', size: sixty }, { name: 'b', size: sixty }];
    const res = await init(s, 'q-batch', { mode: 'batch', files });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('quota_exceeded');
    expect(await usage(s, 'q-batch')).toMatchObject({ reservedBytes: 0 });
  });

  it("a user's quota_gb override (PATCH /v1/admin/users/{id}) replaces the default, and null restores it", async () => {
    const created = await s.asService({ method: 'POST', url: '/v1/admin/users', payload: { username: 'quota-user', password: 'a-long-password-1' } });
    expect(created.statusCode).toBe(201);
    const userId = created.json().id as string;
    const patch = (quota_gb: number | null) => s.asService({ method: 'PATCH', url: `/v1/admin/users/${userId}`, payload: { quota_gb } });
    expect((await patch(0.001)).json().quota_gb).toBeCloseTo(0.001, 6);
    const limit = Math.floor(0.001 * GiB);
    expect((await init(s, userId, { mode: 'single', files: [{ name: 'x', size: limit + 1 }] })).json().code).toBe('quota_exceeded');
    const token = await s.tokenFor(userId);
    const own = await s.asBearer(token, { method: 'POST', url: '/v1/files/init', payload: { mode: 'single', files: [{ name: 'x', size: limit }] } });
    expect(own.statusCode).toBe(201);
    await patch(null);
    expect((await init(s, userId, { mode: 'single', files: [{ name: 'y', size: sixty }] })).statusCode).toBe(201);
  });

  it('the one-request upload is held to the quota as well (413 quota_exceeded, nothing kept)', async () => {
    const user = 'q-form';
    await initOne(s, user, { name: 'hold', size: quota - 100 }, { mode: 'single' });
    const form = multipartBody([{ name: 'file', filename: 'f.bin', data: bytes(200) }]);
    const res = await s.asService({ method: 'POST', url: `/v1/files?user_id=${user}`, headers: { 'content-type': form.contentType }, payload: form.body });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('quota_exceeded');
    expect(await usage(s, user)).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect(await objectKeys(s, `storage/${user}/`)).toEqual([]);
    expect(await halfWritten(s)).toBe(0);
  });
});

describe('MAX_BODY_MB=1 (per file), checked before the quota', () => {
  let s: TestServer;
  const MiB = 1024 * 1024;
  beforeAll(async () => {
    s = await startTestServer({ MAX_BODY_MB: '1', PER_USER_QUOTA_GB: '0.0005' }); // quota ≈ 512 KiB
  });
  afterAll(async () => s.close());

  it('init: bigger than MAX_BODY_MB → 413 file_too_large, even when it also breaks the quota', async () => {
    const tooBig = await init(s, 'mb-u', { mode: 'single', files: [{ name: 'x', size: MiB + 1 }] });
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json()).toMatchObject({ code: 'file_too_large' });
    const batch = await init(s, 'mb-u', { mode: 'batch', files: [{ name: 'ok', size: 10 }, { name: 'x', size: 2 * MiB }] });
    expect(batch.json().code).toBe('file_too_large');
    const overQuota = await init(s, 'mb-u', { mode: 'single', files: [{ name: 'x', size: 600 * 1024 }] });
    expect(overQuota.json().code).toBe('quota_exceeded');
    expect(await usage(s, 'mb-u')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
  });

  it('POST /v1/files beyond MAX_BODY_MB → 413 file_too_large with nothing kept', async () => {
    const s2 = await startTestServer({ MAX_BODY_MB: '1' });
    try {
      const form = multipartBody([{ name: 'file', filename: 'big.bin', data: bytes(MiB + 1) }]);
      const res = await s2.asService({ method: 'POST', url: '/v1/files?user_id=mb-form', headers: { 'content-type': form.contentType }, payload: form.body });
      expect(res.statusCode).toBe(413);
      expect(res.json().code).toBe('file_too_large');
      expect(await usage(s2, 'mb-form')).toMatchObject({ usedBytes: 0, fileCount: 0 });
      expect(await objectKeys(s2, 'storage/mb-form/')).toEqual([]);
      expect(await halfWritten(s2)).toBe(0);
      const ok = multipartBody([{ name: 'file', filename: 'fits.bin', data: bytes(MiB) }]);
      expect((await s2.asService({ method: 'POST', url: '/v1/files?user_id=mb-form', headers: { 'content-type': ok.contentType }, payload: ok.body })).statusCode).toBe(201);
    } finally {
      await s2.close();
    }
  });
});
