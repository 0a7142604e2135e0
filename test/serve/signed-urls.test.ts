/** Signing and verifying, pure: checked against an independent HMAC computation. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKeyToken, encodeKeyToken, signKey, signedUrl, verifySignature } from '../../src/serve/signed-urls.js';

const SECRET = 'test-secret';
const KEY = 'storage/u1/docs/0123456789abcdef0123456789abcdef_report.pdf';
const EXP = 2_000_000_000;
const NOW = 1_900_000_000;
const independent = (key: string, exp: number | string) => createHmac('sha256', SECRET).update(`${key}|${exp}`).digest('hex');

describe('signKey / verifySignature', () => {
  it('is hex(HMAC-SHA256(secret, key + "|" + exp))', () => {
    expect(signKey(SECRET, KEY, EXP)).toBe(independent(KEY, EXP));
  });

  it('accepts the independent signature', () => {
    expect(verifySignature(SECRET, KEY, String(EXP), independent(KEY, EXP), NOW)).toBe('ok');
  });

  it('an exp exactly now is still valid; one second later it is expired', () => {
    const sig = independent(KEY, NOW);
    expect(verifySignature(SECRET, KEY, String(NOW), sig, NOW)).toBe('ok');
    expect(verifySignature(SECRET, KEY, String(NOW), sig, NOW + 1)).toBe('expired');
  });

  const good = independent(KEY, EXP);
  it.each([
    ['changed exp', KEY, String(EXP + 1), good],
    ['exp with a leading zero', KEY, `0${EXP}`, good],
    ['exp with a sign', KEY, `+${EXP}`, good],
    ['exp as a float', KEY, `${EXP}.0`, good],
    ['changed key', KEY.replace('report', 'Report'), String(EXP), good],
    ['changed sig character', KEY, String(EXP), (good[0] === 'a' ? 'b' : 'a') + good.slice(1)],
    ['truncated sig', KEY, String(EXP), good.slice(0, 63)],
    ['sig with an extra character', KEY, String(EXP), `${good}0`],
    ['upper-case hex (not what we issue)', KEY, String(EXP), good.toUpperCase()],
    ['non-hex sig of the right length', KEY, String(EXP), 'z'.repeat(64)],
    ['base64 of the right digest', KEY, String(EXP), Buffer.from(good, 'hex').toString('base64')],
    ['empty sig', KEY, String(EXP), ''],
    ['missing sig', KEY, String(EXP), undefined],
    ['missing exp', KEY, undefined, good],
    ['empty exp', KEY, '', good],
    ['another secret', KEY, String(EXP), createHmac('sha256', 'other').update(`${KEY}|${EXP}`).digest('hex')],
  ])('refuses %s', (_name, key, exp, sig) => {
    expect(verifySignature(SECRET, key, exp, sig, NOW)).toBe('invalid');
  });
});

describe('key tokens', () => {
  it('round-trips base64url, the form we issue', () => {
    expect(decodeKeyToken(encodeKeyToken(KEY))).toBe(KEY);
    expect(encodeKeyToken(KEY)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('accepts standard base64 with + / and padding', () => {
    // Bytes chosen so the standard alphabet needs both "+" and "/".
    const key = 'storage/u1/\u00fb\u00ff\u00be.txt';
    const std = Buffer.from(key).toString('base64');
    expect(std).toMatch(/[+/]/);
    expect(decodeKeyToken(std)).toBe(key);
    expect(decodeKeyToken(std.replace(/=+$/, ''))).toBe(key);
  });

  it('accepts Unicode keys', () => {
    const key = 'storage/u1/文件/0123456789abcdef0123456789abcdef_😀.txt';
    expect(decodeKeyToken(encodeKeyToken(key))).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['dots (path traversal in the clear)', '../../etc/passwd'],
    ['percent sign', 'c3Rv%2e'],
    ['spaces', 'c3Rv cmFn'],
    ['too much padding', 'YQ==='],
    ['wrong padding', 'YWI=='],
    ['impossible length', 'YWJjZ'],
    ['non-canonical trailing bits', 'YR'],
    ['overlong UTF-8 (C0 AE = ".")', Buffer.from([0x73, 0xc0, 0xae]).toString('base64url')],
    ['lone surrogate bytes', Buffer.from([0xed, 0xa0, 0x80]).toString('base64url')],
    ['NUL', Buffer.from('storage/u1/a\0b').toString('base64url')],
  ])('refuses %s', (_name, raw) => {
    expect(decodeKeyToken(raw)).toBeNull();
  });
});

describe('signedUrl', () => {
  it('builds /get/{base64url(key)}?exp&sig, the disposition outside the signature', () => {
    const url = signedUrl('https://files.example', SECRET, KEY, EXP, 'attachment');
    expect(url).toBe(`https://files.example/get/${encodeKeyToken(KEY)}?exp=${EXP}&sig=${independent(KEY, EXP)}&disposition=attachment`);
    expect(signedUrl('https://files.example', SECRET, KEY, EXP, 'inline')).not.toContain('disposition');
  });
});
