/**
 * The tus 1.0 rules, request by request over a real socket: discovery, Tus-Resumable, offsets
 * (409 for a wrong one and for a PATCH racing another), Upload-Checksum (460, nothing kept),
 * creation-with-upload, principals (another user's URL is 404; a service names the user in
 * Upload-Metadata), limits at creation (413), termination freeing the quota, method override,
 * chunked bodies ending or cut inside a part.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, create, download, meta, MiB, offsetOf, patch, TUS, type TusServer, startTusServer } from './tus-kit.js';

let t: TusServer;
let alice: Record<string, string>;
let bob: Record<string, string>;

beforeAll(async () => {
  // A 40 MiB file limit and a 48 MiB quota: small enough to hit from a test.
  t = await startTusServer({ MAX_BODY_MB: '40', PER_USER_QUOTA_GB: String(48 / 1024) });
  alice = bearer(await t.s.tokenFor('tus-alice'));
  bob = bearer(await t.s.tokenFor('tus-bob'));
});
afterAll(async () => t?.s.close());

async function newUpload(length: number, who = alice, metadata = meta({ filename: 'p.bin' })): Promise<string> {
  const res = await create(t, { ...who, 'Upload-Length': String(length), 'Upload-Metadata': metadata });
  expect(res.status).toBe(201);
  return res.headers.get('location')!;
}
const usage = async (who: Record<string, string>) => (await (await fetch(`${t.base}/v1/files/usage`, { headers: who })).json()) as { reserved_bytes: number };
const b64 = (algo: string, b: Buffer) => createHash(algo).update(b).digest('base64');
/** A body sent chunked, in uneven pieces (none on a part boundary). */
const chunked = (b: Buffer) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < b.length; i += 333_333) c.enqueue(b.subarray(i, i + 333_333));
      c.close();
    },
  });

describe('tus protocol rules', () => {
  it('OPTIONS answers the version, extensions, max size and checksum algorithms without credentials', async () => {
    const res = await fetch(t.endpoint, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(res.headers.get('tus-extension')!.split(',')).toEqual(['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'expiration', 'checksum', 'concatenation']);
    expect(res.headers.get('tus-max-size')).toBe(String(40 * MiB));
    expect(res.headers.get('tus-checksum-algorithm')).toBe('sha1,md5,sha256');
  });

  it('a missing or other Tus-Resumable is 412 with Tus-Version; no credentials is 401', async () => {
    const res = await fetch(t.endpoint, { method: 'POST', headers: { ...alice, 'Tus-Resumable': '0.2.2', 'Upload-Length': '1' } });
    expect(res.status).toBe(412);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect((await fetch(t.endpoint, { method: 'POST', headers: { ...alice, 'Upload-Length': '1' } })).status).toBe(412);
    expect((await fetch(t.endpoint, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } })).status).toBe(401);
  });

  it('creation: absolute Location under PUBLIC_BASE_URL, Upload-Expires; HEAD gives offset, length and metadata', async () => {
    const res = await create(t, { ...alice, 'Upload-Length': '10', 'Upload-Metadata': meta({ filename: 'a.txt', filetype: 'text/plain', folder: 'x/y' }) });
    expect(res.status).toBe(201);
    const url = res.headers.get('location')!;
    expect(url).toMatch(new RegExp(`^${t.base}/v1/tus/[A-Za-z0-9_-]+$`));
    expect(new Date(res.headers.get('upload-expires')!).getTime()).toBeGreaterThan(Date.now());
    const head = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...alice } });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe('0');
    expect(head.headers.get('upload-length')).toBe('10');
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(head.headers.get('tus-resumable')).toBe('1.0.0');
    expect(head.headers.get('upload-metadata')).toBe(meta({ filename: 'a.txt', filetype: 'text/plain', folder: 'x/y' }));
    await fetch(url, { method: 'DELETE', headers: { ...TUS, ...alice } });
  });

  it('creation-with-upload stores the first bytes; a PATCH at the wrong offset is 409 and changes nothing', async () => {
    const data = randomBytes(1000);
    const res = await create(t, { ...alice, 'Upload-Length': '1000', 'Upload-Metadata': meta({ filename: 'cwu.bin' }) }, data.subarray(0, 300));
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-offset')).toBe('300');
    const url = res.headers.get('location')!;
    expect((await patch(url, { ...alice, 'Upload-Offset': '0' }, data.subarray(0, 300))).status).toBe(409);
    expect((await patch(url, { ...alice, 'Upload-Offset': '301' }, data.subarray(301))).status).toBe(409);
    expect(await offsetOf(url, alice)).toBe(300);
    expect((await patch(url, { ...alice, 'Upload-Offset': '300', 'Content-Type': 'text/plain' }, data.subarray(300))).status).toBe(415);
    const done = await patch(url, { ...alice, 'Upload-Offset': '300' }, data.subarray(300));
    expect(done.status).toBe(204);
    expect(done.headers.get('upload-offset')).toBe('1000');
    expect((await download(t, alice.Authorization!.slice(7), 'cwu.bin')).data.equals(data)).toBe(true);
  });

  it('Upload-Checksum: a match is kept, a mismatch is 460 and keeps none of the bytes (also whole parts); an unknown algorithm is 400', async () => {
    const data = randomBytes(9 * MiB);
    const url = await newUpload(data.length);
    const first = data.subarray(0, 1000);
    expect((await patch(url, { ...alice, 'Upload-Offset': '0', 'Upload-Checksum': `sha1 ${b64('sha1', first)}` }, first)).status).toBe(204);
    const rest = data.subarray(1000);
    const bad = await patch(url, { ...alice, 'Upload-Offset': '1000', 'Upload-Checksum': `sha256 ${b64('sha256', randomBytes(8))}` }, rest);
    expect(bad.status).toBe(460);
    expect(await offsetOf(url, alice)).toBe(1000); // the 8 MiB part it filled is not counted
    expect((await patch(url, { ...alice, 'Upload-Offset': '1000', 'Upload-Checksum': `crc32 AAAA` }, rest)).status).toBe(400);
    expect((await patch(url, { ...alice, 'Upload-Offset': '1000', 'Upload-Checksum': `md5 ${b64('md5', rest)}` }, rest)).status).toBe(204);
    expect(await offsetOf(url, alice)).toBe(data.length);
  });

  it("another user's upload URL is 404 for HEAD, PATCH and DELETE; a service acts for the user named in the metadata", async () => {
    const url = await newUpload(10);
    expect((await fetch(url, { method: 'HEAD', headers: { ...TUS, ...bob } })).status).toBe(404);
    expect((await patch(url, { ...bob, 'Upload-Offset': '0' }, Buffer.alloc(10))).status).toBe(404);
    expect((await fetch(url, { method: 'DELETE', headers: { ...TUS, ...bob } })).status).toBe(404);
    expect(await offsetOf(url, alice)).toBe(0);
    const svc = { 'X-Service-Token': t.s.serviceToken };
    expect((await create(t, { ...svc, 'Upload-Length': '5' })).status).toBe(400); // user_id required
    const byService = await create(t, { ...svc, 'Upload-Length': '5', 'Upload-Metadata': meta({ filename: 's.bin', user_id: 'tus-bob' }) });
    expect(byService.status).toBe(201);
    expect((await patch(byService.headers.get('location')!, { ...bob, 'Upload-Offset': '0' }, Buffer.from('hello'))).status).toBe(204);
    expect((await download(t, bob.Authorization!.slice(7), 's.bin')).data.toString()).toBe('hello');
  });

  it('limits at creation: over MAX_BODY_MB or the quota is 413, no length (or a malformed deferral) is 400; termination frees the reservation', async () => {
    expect((await create(t, { ...bob, 'Upload-Length': String(40 * MiB + 1) })).status).toBe(413);
    expect((await create(t, { ...bob })).status).toBe(400);
    expect((await create(t, { ...bob, 'Upload-Defer-Length': '2' })).status).toBe(400);
    expect((await create(t, { ...bob, 'Upload-Defer-Length': '1', 'Upload-Length': '5' })).status).toBe(400);
    expect((await create(t, { ...bob, 'Upload-Defer-Length': '1', 'Upload-Concat': 'partial' })).status).toBe(400);
    const held = await newUpload(30 * MiB, bob);
    expect((await usage(bob)).reserved_bytes).toBe(30 * MiB);
    expect((await create(t, { ...bob, 'Upload-Length': String(20 * MiB) })).status).toBe(413); // 30 + 20 > 48 MiB
    await patch(held, { ...bob, 'Upload-Offset': '0' }, randomBytes(1000));
    expect((await fetch(held, { method: 'DELETE', headers: { ...TUS, ...bob } })).status).toBe(204);
    expect((await usage(bob)).reserved_bytes).toBe(0);
    expect((await fetch(held, { method: 'HEAD', headers: { ...TUS, ...bob } })).status).toBe(404);
    expect((await create(t, { ...bob, 'Upload-Length': String(20 * MiB) })).status).toBe(201);
  });

  it('deferred length: reserves MAX_BODY_MB (refused with 400 when the quota cannot), HEAD says Upload-Defer-Length until a PATCH sets the length once', async () => {
    const erin = bearer(await t.s.tokenFor('tus-erin'));
    const res = await create(t, { ...erin, 'Upload-Defer-Length': '1', 'Upload-Metadata': meta({ filename: 'd.bin' }) });
    expect([res.status, res.headers.get('upload-defer-length'), res.headers.get('upload-length')]).toEqual([201, '1', null]);
    const url = res.headers.get('location')!;
    expect((await usage(erin)).reserved_bytes).toBe(40 * MiB);
    const refused = await create(t, { ...erin, 'Upload-Defer-Length': '1' }); // 40 + 40 MiB > the 48 MiB quota
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toMatch(/MAX_BODY_MB.*quota/);
    const data = randomBytes(3000);
    const first = await patch(url, { ...erin, 'Upload-Offset': '0' }, data.subarray(0, 1000));
    expect([first.status, first.headers.get('upload-defer-length')]).toEqual([204, '1']);
    const head = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...erin } });
    expect([head.headers.get('upload-offset'), head.headers.get('upload-defer-length'), head.headers.get('upload-length')]).toEqual(['1000', '1', null]);
    expect((await patch(url, { ...erin, 'Upload-Offset': '1000', 'Upload-Length': '999' }, Buffer.alloc(0))).status).toBe(400); // below the offset
    expect((await patch(url, { ...erin, 'Upload-Offset': '1000', 'Upload-Length': String(40 * MiB + 1) }, Buffer.alloc(0))).status).toBe(413);
    expect((await patch(url, { ...erin, 'Upload-Offset': '1000', 'Upload-Length': '1500' }, data.subarray(1000))).status).toBe(413); // the body goes past it
    const last = await patch(url, { ...erin, 'Upload-Offset': '1000', 'Upload-Length': '3000' }, data.subarray(1000));
    expect([last.status, last.headers.get('upload-offset'), last.headers.get('upload-defer-length')]).toEqual([204, '3000', null]);
    expect((await download(t, erin.Authorization!.slice(7), 'd.bin')).data.equals(data)).toBe(true);
    expect((await usage(erin)).reserved_bytes).toBe(0);
    const done = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...erin } });
    expect([done.headers.get('upload-length'), done.headers.get('upload-defer-length')]).toEqual(['3000', null]);
    expect((await patch(url, { ...erin, 'Upload-Offset': '3000', 'Upload-Length': '3001' }, Buffer.alloc(0))).status).toBe(400); // set once

    // The length sent alone, where the bytes already end: inside a part (the tail becomes the last part) and at 0.
    for (const [name, size] of [['tail.bin', 1234], ['empty.bin', 0]] as const) {
      const u = (await create(t, { ...erin, 'Upload-Defer-Length': '1', 'Upload-Metadata': meta({ filename: name }) }, data.subarray(0, size))).headers.get('location')!;
      expect((await patch(u, { ...erin, 'Upload-Offset': String(size), 'Upload-Length': String(size) }, Buffer.alloc(0))).status).toBe(204);
      expect((await download(t, erin.Authorization!.slice(7), name)).data.equals(data.subarray(0, size))).toBe(true);
    }
    // Past MAX_BODY_MB before the length is known: 413 before a byte is read.
    const open = (await create(t, { ...erin, 'Upload-Defer-Length': '1' })).headers.get('location')!;
    const over = await new Promise<number>((resolve, reject) => {
      const req = http.request(open, { method: 'PATCH', headers: { ...TUS, ...erin, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(40 * MiB + 1) } });
      req.on('response', (r) => resolve(r.statusCode!)).on('error', reject);
      req.flushHeaders();
    });
    expect(over).toBe(413);
    expect((await fetch(open, { method: 'DELETE', headers: { ...TUS, ...erin } })).status).toBe(204);
    expect((await usage(erin)).reserved_bytes).toBe(0);
  });

  it('HEAD on a final: Upload-Concat with the partial URLs as sent, Upload-Metadata with the kept keys; gone with its file', async () => {
    const parts = [Buffer.from('hello'), Buffer.from(' world')];
    const urls: string[] = [];
    for (const p of parts) {
      const res = await create(t, { ...alice, 'Upload-Length': String(p.length), 'Upload-Concat': 'partial' }, p);
      urls.push(new URL(res.headers.get('location')!).pathname); // relative, as the spec allows
    }
    const sent = meta({ filename: 'joined.txt', filetype: 'text/plain', ignored: 'x' });
    const final = await create(t, { ...alice, 'Upload-Concat': `final;${urls.join(' ')}`, 'Upload-Metadata': sent });
    expect([final.status, final.headers.get('upload-concat')]).toEqual([201, `final;${urls.join(' ')}`]);
    const head = await fetch(final.headers.get('location')!, { method: 'HEAD', headers: { ...TUS, ...alice } });
    expect([head.headers.get('upload-concat'), head.headers.get('upload-offset'), head.headers.get('upload-length')]).toEqual([`final;${urls.join(' ')}`, '11', '11']);
    const { data, record } = await download(t, alice.Authorization!.slice(7), 'joined.txt');
    expect(data.toString()).toBe('hello world');
    expect(head.headers.get('upload-metadata')).toBe(meta({ filename: 'joined.txt', filetype: 'text/plain', sha256: record.sha256 as string }));
    expect((await fetch(`${t.base}/v1/files/${record.key as string}`, { method: 'DELETE', headers: alice })).status).toBe(200);
    expect((await fetch(final.headers.get('location')!, { method: 'HEAD', headers: { ...TUS, ...alice } })).status).toBe(404);
  });

  it('X-HTTP-Method-Override: POST carries PATCH, HEAD and DELETE', async () => {
    const url = await newUpload(4);
    const res = await fetch(url, { method: 'POST', headers: { ...TUS, ...alice, 'X-HTTP-Method-Override': 'PATCH', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: 'ab' });
    expect(res.status).toBe(204);
    expect(res.headers.get('upload-offset')).toBe('2');
    const head = await fetch(url, { method: 'POST', headers: { ...TUS, ...alice, 'X-HTTP-Method-Override': 'HEAD' } });
    expect(head.headers.get('upload-offset')).toBe('2');
    expect((await fetch(url, { method: 'POST', headers: { ...TUS, ...alice, 'X-HTTP-Method-Override': 'DELETE' } })).status).toBe(204);
  });

  it('chunked PATCH bodies (no Content-Length) ending inside a part, on a boundary, after a tail: every byte lands once', async () => {
    const carol = bearer(await t.s.tokenFor('tus-carol'));
    const data = randomBytes(18 * MiB + 5);
    const url = await newUpload(data.length, carol, meta({ filename: 'chunked.bin' }));
    let at = 0;
    for (const end of [1000, 10 * MiB + 7, 16 * MiB, data.length]) {
      const res = await patch(url, { ...carol, 'Upload-Offset': String(at) }, chunked(data.subarray(at, end)));
      expect([res.status, res.headers.get('upload-offset')]).toEqual([204, String(end)]);
      if (end < data.length) expect(await offsetOf(url, carol)).toBe(end);
      at = end;
    }
    expect((await download(t, carol.Authorization!.slice(7), 'chunked.bin')).data.equals(data)).toBe(true);
  });

  it('a chunked PATCH cut inside a part keeps the whole parts it wrote, and the upload goes on from there', async () => {
    const dave = bearer(await t.s.tokenFor('tus-dave'));
    const data = randomBytes(12 * MiB);
    const url = await newUpload(data.length, dave, meta({ filename: 'cut.bin' }));
    const req = http.request(url, { method: 'PATCH', headers: { ...TUS, ...dave, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' } });
    req.on('error', () => undefined);
    req.write(data.subarray(0, 10 * MiB)); // chunked: no Content-Length
    const deadline = Date.now() + 10_000;
    while ((await offsetOf(url, dave)) < 8 * MiB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    let rest: Response;
    do rest = await patch(url, { ...dave, 'Upload-Offset': String(8 * MiB) }, data.subarray(8 * MiB)); // 409 while the cut PATCH still holds the upload
    while (rest.status === 409 && Date.now() < deadline && (await offsetOf(url, dave)) === 8 * MiB);
    expect(rest.status).toBe(204);
    expect((await download(t, dave.Authorization!.slice(7), 'cut.bin')).data.equals(data)).toBe(true);

    // With Upload-Checksum, a cut keeps nothing: also the parts recorded (or still being recorded) before it.
    const again = await newUpload(20 * MiB, dave, meta({ filename: 'cut2.bin' }));
    const withSum = http.request(again, { method: 'PATCH', headers: { ...TUS, ...dave, 'Upload-Offset': '0', 'Upload-Checksum': `sha1 ${b64('sha1', randomBytes(20))}`, 'Content-Type': 'application/offset+octet-stream' } });
    withSum.on('error', () => undefined);
    withSum.write(randomBytes(18 * MiB));
    const status = async () => ((await (await fetch(`${t.base}/v1/files/upload/${again.split('/').pop()}`, { headers: dave })).json()) as { parts: unknown[] }).parts.length;
    while ((await status()) < 2 && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    withSum.destroy();
    const until = Date.now() + 10_000;
    while ((await status()) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect([await status(), await offsetOf(again, dave)]).toEqual([0, 0]);
  });

  it('two racing PATCHes at one offset: one 204, one 409, never both bytes', async () => {
    const url = await newUpload(2 * MiB, alice, meta({ filename: 'race.bin' }));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowBody = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new Uint8Array(MiB).fill(1));
        await gate;
        c.enqueue(new Uint8Array(MiB).fill(1));
        c.close();
      },
    });
    const first = patch(url, { ...alice, 'Upload-Offset': '0', 'Content-Length': String(2 * MiB) }, slowBody);
    await new Promise((r) => setTimeout(r, 300)); // the first holds the upload's lease by now
    const second = await patch(url, { ...alice, 'Upload-Offset': '0' }, Buffer.alloc(2 * MiB, 2));
    release();
    expect(second.status).toBe(409);
    expect((await first).status).toBe(204);
    expect(await offsetOf(url, alice)).toBe(2 * MiB);
    expect((await download(t, alice.Authorization!.slice(7), 'race.bin')).data.equals(Buffer.alloc(2 * MiB, 1))).toBe(true);
  });
});
