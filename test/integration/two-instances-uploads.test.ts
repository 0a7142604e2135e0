/**
 * SPEC "Scale-out", any request may reach any instance — uploads. Two real instances on one
 * PostgreSQL schema behind a round-robin nginx (test/helpers/cluster.ts), run twice: bytes on
 * one shared UPLOAD_ROOT, and bytes on S3 with an UPLOAD_ROOT per instance (nothing on disk
 * shared): parts of one upload spread over both, completions racing on both, inits racing a
 * quota on both, and one instance killed mid-part while the other finishes the upload (and the
 * dead one, restarting, leaves the other's half-written part alone). On S3, nothing is left
 * behind in the bucket but the files' objects (aliases), the completed uploads they name and
 * the open uploads' multipart uploads.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes, MiB, sha256 } from '../files/upload-kit.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { arrivingObjects, listMultipartUploads, listObjects, s3 as testS3, s3OptedOut } from '../helpers/s3.js';
import { call, storagePath, within } from './two-instances-kit.js';

const P = 5 * MiB; // the smallest part the stores accept

const STORAGES = [
  { storage: 'local', title: 'PostgreSQL + one shared UPLOAD_ROOT', describeOn: describePostgres },
  { storage: 's3', title: 'PostgreSQL + S3, no shared UPLOAD_ROOT', describeOn: s3OptedOut ? describe.skip : describePostgres },
] as const;

for (const { storage, title, describeOn } of STORAGES) describeOn(`two instances behind nginx: uploads (${title})`, () => {
  let c: Cluster;
  beforeAll(async () => {
    // The shortest part-write lease: the kill -9 case's completion waits out the dead
    // instance's registered write on S3 (10 s by default).
    c = await startCluster({ PART_WRITE_LEASE_SECONDS: '5' }, { storage });
  }, 60_000);
  afterAll(async () => c?.close());

  const init = (target: string, userId: string, name: string, size: number, extra: Record<string, unknown> = {}) =>
    call(c, target, 'POST', '/v1/files/init', { json: { user_id: userId, mode: 'chunked', partSize: P, files: [{ name, size }], ...extra } });
  const putPart = (target: string, id: string, n: number, data: Buffer) => call(c, target, 'PUT', `/v1/files/part?uploadId=${id}&partNumber=${n}`, { body: data });
  const complete = (target: string, id: string) => call(c, target, 'POST', '/v1/files/complete', { json: { uploadId: id } });
  const status = (target: string, id: string) => call(c, target, 'GET', `/v1/files/upload/${id}`);
  const usage = async (target: string, userId: string) => (await call(c, target, 'GET', `/v1/files/usage?user_id=${userId}`)).json();

  /** The file as each instance serves it. */
  async function servedBy(key: string): Promise<{ A: string; B: string }> {
    const [a, b] = await Promise.all([c.a.base, c.b.base].map((base) => call(c, base, 'GET', storagePath(key), { anonymous: true })));
    expect([a!.status, b!.status]).toEqual([200, 200]);
    return { A: sha256(a!.body), B: sha256(b!.body) };
  }

  it('parts of one upload sent in parallel through nginx reach both instances; complete gives the exact bytes', async () => {
    const data = bytes(5 * P + 4321);
    const parts = [1, 2, 3, 4, 5, 6].map((n) => data.subarray((n - 1) * P, n * P));
    const created = await init(c.proxy, 'rr-u', 'spread.bin', data.length);
    expect(created.status, created.body.toString()).toBe(201);
    const id = created.json().uploadId as string;

    const sent = await Promise.all(parts.map((p, i) => putPart(c.proxy, id, i + 1, p)));
    expect(sent.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(sent.map((r) => r.via))).toEqual(new Set(['A', 'B'])); // round-robin really split them
    // Each instance sees every part, whichever received it.
    const expected = parts.map((p, i) => ({ partNumber: i + 1, size: p.length, sha256: sha256(p) }));
    for (const base of [c.a.base, c.b.base]) expect((await status(base, id)).json().parts).toEqual(expected);

    const done = await complete(c.proxy, id);
    expect(done.status, done.body.toString()).toBe(201);
    expect(done.json()).toMatchObject({ size: data.length, sha256: sha256(data) });
    expect(await servedBy(done.json().key)).toEqual({ A: sha256(data), B: sha256(data) });
    // A signed URL made by one instance opens on the other (same UPLOAD_SIGNING_KEY).
    const signed = await call(c, c.a.base, 'GET', `/v1/files/signed-url?key=${encodeURIComponent(done.json().key)}&expires_in=60`);
    expect(signed.status, signed.body.toString()).toBe(200);
    const onB = await call(c, c.b.base, 'GET', new URL(signed.json().url).pathname + new URL(signed.json().url).search, { anonymous: true });
    expect(onB.status).toBe(200);
    expect(sha256(onB.body)).toBe(sha256(data));
  });

  it('complete sent to both instances at once: one file, one record, both answers carry it', async () => {
    for (let round = 0; round < 5; round++) {
      const data = bytes(2 * P + 99);
      const id = (await init(c.proxy, 'race-u', `twice-${round}.bin`, data.length)).json().uploadId as string;
      expect((await putPart(c.a.base, id, 1, data.subarray(0, P))).status).toBe(200);
      expect((await putPart(c.b.base, id, 2, data.subarray(P, 2 * P))).status).toBe(200);
      expect((await putPart(c.a.base, id, 3, data.subarray(2 * P))).status).toBe(200);

      const answers = await Promise.all([complete(c.a.base, id), complete(c.b.base, id)]);
      const codes = answers.map((r) => r.status).sort();
      expect([[200, 201], [200, 200]], `round ${round}: ${answers.map((r) => `${r.status} ${r.body}`).join(' | ')}`).toContainEqual(codes);
      const [x, y] = answers.map((r) => r.json());
      expect(x).toEqual(y); // the same record: id, key, sha256, created_at
      expect(x.sha256).toBe(sha256(data));
      const listing = (await call(c, c.proxy, 'GET', '/v1/files/all?user_id=race-u')).json();
      expect(listing.files.filter((f: { key: string }) => f.key.includes(`twice-${round}.bin`))).toHaveLength(1);
      expect(await servedBy(x.key)).toEqual({ A: sha256(data), B: sha256(data) });
    }
    const u = await usage(c.proxy, 'race-u');
    expect(u).toMatchObject({ file_count: 5, reserved_bytes: 0, open_uploads: 0 });
  });

  it('50 inits racing on both instances never reserve past the quota; aborting frees the reservation', async () => {
    const user = await call(c, c.a.base, 'POST', '/v1/admin/users', { json: { username: 'quota-u', password: 'quota-Passw0rd!' } });
    expect(user.status, user.body.toString()).toBe(201);
    const userId = user.json().id as string;
    const patched = await call(c, c.b.base, 'PATCH', `/v1/admin/users/${userId}`, { json: { quota_gb: 0.001 } });
    expect(patched.status, patched.body.toString()).toBe(200);
    const quota = (await usage(c.a.base, userId)).quota_bytes as number;
    expect(quota).toBe(Math.floor(0.001 * 1024 ** 3)); // the override, as both instances see it
    const size = 100_000;
    const fits = Math.floor(quota / size); // 10

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(c, i % 2 ? c.b.base : c.a.base, 'POST', '/v1/files/init', { json: { user_id: userId, mode: 'single', files: [{ name: `q${i}.bin`, size }] } })),
    );
    const won = answers.filter((r) => r.status === 201);
    const lost = answers.filter((r) => r.status !== 201);
    expect(won).toHaveLength(fits);
    expect(new Set(lost.map((r) => `${r.status} ${r.json().code}`))).toEqual(new Set(['413 quota_exceeded']));
    for (const base of [c.a.base, c.b.base]) {
      const u = await usage(base, userId);
      expect(u.reserved_bytes).toBe(fits * size);
      expect(u.reserved_bytes).toBeLessThanOrEqual(quota);
      expect(u.open_uploads).toBe(fits);
    }

    const aborted = await Promise.all(won.map((r, i) => call(c, i % 2 ? c.a.base : c.b.base, 'DELETE', `/v1/files/upload/${r.json().uploadId}`)));
    expect(aborted.map((r) => r.status)).toEqual(new Array(fits).fill(200));
    expect(await usage(c.b.base, userId)).toMatchObject({ reserved_bytes: 0, open_uploads: 0, used_bytes: 0 });
    // The freed room is usable again, from either instance.
    const again = await call(c, c.b.base, 'POST', '/v1/files/init', { json: { user_id: userId, mode: 'single', files: [{ name: 'again.bin', size: fits * size }] } });
    expect(again.status, again.body.toString()).toBe(201);
  });

  /** True once bytes land where the store writes a copy first: the shared disk's `.tmp`, or the S3 server. */
  async function landingProbe(): Promise<() => Promise<boolean>> {
    if (c.root) {
      const tmp = path.join(c.root, '.tmp');
      const before = new Set(await fs.readdir(tmp));
      return async () => {
        for (const f of await fs.readdir(tmp)) if (!before.has(f) && (await fs.stat(path.join(tmp, f)).catch(() => null))?.size) return true;
        return false;
      };
    }
    const arriving = await arrivingObjects();
    if (arriving) return arriving;
    const since = Date.now(); // a server of one's own: give the instance a second to begin its UploadPart
    return async () => Date.now() - since > 1000;
  }

  /**
   * Starts PUTting part `n` directly to one instance and sends its first half; resolves once the
   * bytes are landing in the store (see landingProbe).
   */
  async function halfSent(port: number, id: string, n: number, data: Buffer): Promise<{ finish(): Promise<number>; cut(): void }> {
    const landed = await landingProbe();
    let answered: (status: number) => void = () => undefined;
    const status = new Promise<number>((resolve) => (answered = resolve));
    const req = http.request(
      { host: '127.0.0.1', port, method: 'PUT', agent: false, path: `/v1/files/part?uploadId=${id}&partNumber=${n}`, headers: { 'x-service-token': c.env.AUTH_SERVICE_TOKEN!, 'content-type': 'application/octet-stream', 'content-length': data.length } },
      (res) => {
        res.resume();
        res.on('end', () => answered(res.statusCode ?? 0));
      },
    );
    req.on('error', () => answered(0));
    req.write(data.subarray(0, data.length / 2));
    const landing = await within(5_000, landed);
    expect(landing, `part ${n} never reached the instance`).not.toBeNull();
    return {
      finish: () => {
        req.end(data.subarray(data.length / 2));
        return status;
      },
      cut: () => req.destroy(),
    };
  }

  it('kill -9 of the instance receiving a part: the other finishes the upload, undisturbed by the dead one restarting', async () => {
    const data = bytes(3 * P + 777);
    const part = (n: number) => data.subarray((n - 1) * P, n * P);
    const id = (await init(c.a.base, 'crash-u', 'survivor.bin', data.length)).json().uploadId as string;
    expect((await putPart(c.a.base, id, 1, part(1))).status).toBe(200);
    expect((await putPart(c.a.base, id, 2, part(2))).status).toBe(200);

    // Part 3 streams into A: half its bytes are sent, then A dies mid-part.
    const onA = await halfSent(c.a.port, id, 3, part(3));
    await c.kill9(c.a);
    onA.cut();
    // B knows parts 1 and 2 and nothing of the cut part 3.
    const st = (await status(c.b.base, id)).json();
    expect(st).toMatchObject({ state: 'open', receivedBytes: 2 * P });
    expect(st.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2]);
    // Through nginx, which now finds only B alive.
    const viaProxy = await putPart(c.proxy, id, 4, part(4));
    expect([viaProxy.status, viaProxy.via]).toEqual([200, 'B']);

    // Part 3 again, to B; A comes back meanwhile and cleans up after its crash, which must
    // leave B's half-written copy alone (it names its writer: another live process).
    const onB = await halfSent(c.b.port, id, 3, part(3));
    await c.restart('A');
    expect(await onB.finish()).toBe(200);

    const done = await complete(c.proxy, id);
    expect(done.status, done.body.toString()).toBe(201);
    expect(done.json()).toMatchObject({ size: data.length, sha256: sha256(data) });
    expect(await servedBy(done.json().key)).toEqual({ A: sha256(data), B: sha256(data) });
    expect(await usage(c.proxy, 'crash-u')).toMatchObject({ used_bytes: data.length, reserved_bytes: 0, open_uploads: 0 });
  });

  if (storage === 's3') it('on S3, the bucket holds the files\' aliases, the completed uploads they name and the open upload\'s multipart upload, nothing else', async () => {
    const s3 = c.s3!;
    const files: string[] = [];
    let open = 0;
    const quotaUser = (await call(c, c.a.base, 'GET', '/v1/admin/users')).json().users.find((u: { username: string }) => u.username === 'quota-u').id as string;
    for (const userId of ['rr-u', 'race-u', 'crash-u', quotaUser]) {
      files.push(...(await call(c, c.proxy, 'GET', `/v1/files/all?user_id=${userId}&limit=1000`)).json().files.map((f: { key: string }) => f.key));
      open += (await usage(c.proxy, userId)).open_uploads as number;
    }
    expect(files).toHaveLength(7);
    expect(open).toBe(1); // the quota case's last init; 18 uploads were made in all, 10 aborted
    const names = (await listObjects(s3.bucket, s3.prefix)).map((o) => o.Key!.slice(s3.prefix.length));
    expect(names.filter((n) => n.startsWith('storage/')).sort()).toEqual(files.sort()); // one object (an alias) per file at its key
    // Anything else is the store's own, kept for those files: the completed upload an alias
    // names, with its records. Never more uploads' worth than files, nothing of the aborted or
    // raced ones, and each of them named by one of the files' aliases.
    const uploadsKept = new Set(names.filter((n) => !n.startsWith('storage/')).map((n) => n.split('/')[1]!.split('.')[0]!));
    expect(uploadsKept.size).toBeLessThanOrEqual(files.length);
    const aliased = new Set<string>();
    for (const key of files) {
      const head = await testS3().send(new HeadObjectCommand({ Bucket: s3.bucket, Key: s3.prefix + key }));
      const target = head.Metadata?.['sl-blob'];
      if (target) aliased.add(target.split('/')[1]!);
    }
    expect([...uploadsKept].filter((id) => !aliased.has(id))).toEqual([]);
    expect((await listMultipartUploads(s3.bucket, s3.prefix)).length).toBeLessThanOrEqual(open);
  });
});
