/**
 * DownloadService without HTTP: who may read which file, in which order the checks run
 * (a key is parsed before a signature is checked, a signature before the record is looked
 * up), and the caching policy of each answer. Time is a ManualClock: no test waits for a
 * URL to expire. Errors are asserted by code, never by HTTP status.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import type { FileRecord } from '../../src/db/types.js';
import { FileNotFound } from '../../src/errors/index.js';
import { mayAccess } from '../../src/files/file-service.js';
import { parseKey } from '../../src/files/keys.js';
import { DownloadService, type DownloadOptions } from '../../src/serve/download-service.js';
import { ManualClock } from '../../src/util/clock.js';

const SECRET = 'sig-test-secret';
const T0 = 1_800_000_000; // unix seconds

const record = (userId: string, filename: string): FileRecord => ({
  id: 'a'.repeat(32),
  key: `storage/${userId}/${'a'.repeat(32)}_${filename}`,
  userId,
  folder: '',
  filename,
  size: 3,
  mime: 'text/plain',
  sha256: 'e'.repeat(64),
  createdAt: new Date(T0 * 1000).toISOString(),
});

const alice = record('alice', 'a.txt');
const missingKey = `storage/alice/${'b'.repeat(32)}_gone.txt`;

const user = (userId: string, role: Principal['role'] = 'viewer'): Principal => ({ kind: 'user', userId, username: userId, role, scopes: ['files:read'] });
const service: Principal = { kind: 'service', userId: null, username: null, role: 'admin', scopes: [] };

/** The FileService look-ups, over a map, counting how often the records were read. */
function lookups(...files: FileRecord[]) {
  const byKey = new Map(files.map((f) => [f.key, f]));
  const reads = { count: 0 };
  return {
    reads,
    getByKey: async (key: string) => {
      reads.count++;
      return byKey.get(key) ?? null;
    },
    getVisible: async (principal: Principal, key: string) => {
      const owner = parseKey(key).userId;
      reads.count++;
      const file = mayAccess(principal, owner) ? byKey.get(key) : undefined;
      if (!file) throw new FileNotFound();
      return file;
    },
  };
}

function build(opts: Partial<DownloadOptions> = {}) {
  const files = lookups(alice);
  const clock = new ManualClock(T0 * 1000);
  const downloads = new DownloadService(files, {
    signingKey: SECRET,
    publicBaseUrl: 'http://files.test',
    publicStorage: false,
    publicCacheControl: 'public, max-age=60',
    signedUrlMaxSeconds: 7 * 86_400,
    clock,
    ...opts,
  });
  return { downloads, files, clock };
}

const sign = (key: string, exp: number) => createHmac('sha256', SECRET).update(`${key}|${exp}`).digest('hex');
const encode = (key: string) => Buffer.from(key).toString('base64url');

describe('DownloadService.openStorage', () => {
  it('public storage: anyone, with the public Cache-Control', async () => {
    const { downloads } = build({ publicStorage: true });
    await expect(downloads.openStorage(null, alice.key)).resolves.toEqual({ file: alice, cacheControl: 'public, max-age=60' });
  });

  it('private storage: the owner, an admin and a service read it, never cached as public', async () => {
    const { downloads } = build();
    for (const who of [user('alice'), user('root', 'admin'), service]) {
      await expect(downloads.openStorage(who, alice.key)).resolves.toEqual({ file: alice, cacheControl: 'private, no-cache' });
    }
  });

  it("another user's file is file_not_found, exactly like a missing one, and its record is never read", async () => {
    const { downloads, files } = build();
    await expect(downloads.openStorage(user('bob'), alice.key)).rejects.toMatchObject({ code: 'file_not_found' });
    expect(files.reads.count).toBe(0);
    await expect(downloads.openStorage(user('alice'), missingKey)).rejects.toMatchObject({ code: 'file_not_found' });
  });

  it('private storage without a principal is unauthorized (a route that forgot the guard stays private)', async () => {
    const { downloads } = build();
    await expect(downloads.openStorage(null, alice.key)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('a malformed key is invalid_key before any look-up', async () => {
    const { downloads, files } = build({ publicStorage: true });
    for (const key of ['storage/alice/../bob/x_y', 'storage/alice', 'etc/passwd', `storage/alice/${'a'.repeat(32)}_..`]) {
      await expect(downloads.openStorage(null, key), key).rejects.toMatchObject({ code: 'invalid_key' });
    }
    expect(files.reads.count).toBe(0);
  });
});

describe('DownloadService.openSigned', () => {
  it('a valid signature: the file, cacheable until exp, no Referer', async () => {
    const { downloads } = build();
    const exp = T0 + 600;
    await expect(downloads.openSigned(encode(alice.key), String(exp), sign(alice.key, exp))).resolves.toEqual({
      file: alice,
      cacheControl: 'private, max-age=600',
      extraHeaders: { 'Referrer-Policy': 'no-referrer' },
    });
  });

  it('max-age never passes a day, however far exp is', async () => {
    const { downloads } = build();
    const exp = T0 + 30 * 86_400;
    const got = await downloads.openSigned(encode(alice.key), String(exp), sign(alice.key, exp));
    expect(got.cacheControl).toBe('private, max-age=86400');
  });

  it('valid up to and including exp; url_expired one second later', async () => {
    const { downloads, clock } = build();
    const exp = T0 + 10;
    const open = () => downloads.openSigned(encode(alice.key), String(exp), sign(alice.key, exp));
    clock.advance(10_000);
    await expect(open()).resolves.toMatchObject({ cacheControl: 'private, max-age=0' });
    clock.advance(1_000);
    await expect(open()).rejects.toMatchObject({ code: 'url_expired' });
  });

  it('the signature is checked before the record: a bad one on a missing key is invalid_signature, and nothing is read', async () => {
    const { downloads, files } = build();
    const exp = T0 + 600;
    const bad = sign(missingKey, exp).replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await expect(downloads.openSigned(encode(missingKey), String(exp), bad)).rejects.toMatchObject({ code: 'invalid_signature' });
    await expect(downloads.openSigned(encode(missingKey), String(exp), undefined)).rejects.toMatchObject({ code: 'invalid_signature' });
    await expect(downloads.openSigned(encode(missingKey), undefined, sign(missingKey, exp))).rejects.toMatchObject({ code: 'invalid_signature' });
    expect(files.reads.count).toBe(0);
    await expect(downloads.openSigned(encode(missingKey), String(exp), sign(missingKey, exp))).rejects.toMatchObject({ code: 'file_not_found' });
  });

  it('an expired URL on a missing key is url_expired, not file_not_found', async () => {
    const { downloads } = build();
    const exp = T0 - 1;
    await expect(downloads.openSigned(encode(missingKey), String(exp), sign(missingKey, exp))).rejects.toMatchObject({ code: 'url_expired' });
  });

  it('the key is checked before the signature: undecodable or malformed keys are invalid_key even when signed', async () => {
    const { downloads, files } = build();
    const exp = T0 + 600;
    await expect(downloads.openSigned('not*base64', String(exp), 'x')).rejects.toMatchObject({ code: 'invalid_key' });
    for (const key of ['storage/alice/../bob/x_y', '/etc/passwd']) {
      await expect(downloads.openSigned(encode(key), String(exp), sign(key, exp)), key).rejects.toMatchObject({ code: 'invalid_key' });
      await expect(downloads.openSigned(encode(key), String(exp), 'f'.repeat(64)), key).rejects.toMatchObject({ code: 'invalid_key' });
    }
    expect(files.reads.count).toBe(0);
  });
});

describe('DownloadService.signUrl', () => {
  it('an hour by default; the URL opens the file until exp, and not after', async () => {
    const { downloads, clock } = build();
    const signed = await downloads.signUrl(user('alice'), alice.key);
    expect(signed.exp).toBe(T0 + 3600);
    expect(signed.url).toBe(`http://files.test/get/${encode(alice.key)}?exp=${signed.exp}&sig=${sign(alice.key, signed.exp)}`);
    const url = new URL(signed.url);
    const open = () => downloads.openSigned(url.pathname.slice('/get/'.length), url.searchParams.get('exp') ?? undefined, url.searchParams.get('sig') ?? undefined);
    await expect(open()).resolves.toMatchObject({ file: alice });
    clock.advance(3601_000);
    await expect(open()).rejects.toMatchObject({ code: 'url_expired' });
  });

  it('expiresIn up to the maximum; beyond it expires_in_too_large before any look-up', async () => {
    const { downloads, files } = build({ signedUrlMaxSeconds: 100 });
    await expect(downloads.signUrl(user('alice'), alice.key, { expiresIn: 101 })).rejects.toMatchObject({ code: 'expires_in_too_large' });
    expect(files.reads.count).toBe(0);
    await expect(downloads.signUrl(user('alice'), alice.key, { expiresIn: 100 })).resolves.toMatchObject({ exp: T0 + 100 });
  });

  it('attachment is appended outside the signature; only files the principal may see are signed', async () => {
    const { downloads } = build();
    const signed = await downloads.signUrl(service, alice.key, { disposition: 'attachment' });
    expect(signed.url.endsWith(`sig=${sign(alice.key, signed.exp)}&disposition=attachment`)).toBe(true);
    await expect(downloads.signUrl(user('bob'), alice.key)).rejects.toMatchObject({ code: 'file_not_found' });
    await expect(downloads.signUrl(user('alice'), missingKey)).rejects.toMatchObject({ code: 'file_not_found' });
  });
});
