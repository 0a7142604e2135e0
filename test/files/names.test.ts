/**
 * Name rules (unit level): user ids, filenames, folders and keys. Anything outside the rules
 * is refused with a reason; nothing is ever rewritten into something valid.
 */
import { describe, expect, it } from 'vitest';
import { isValidUserId } from '../../src/auth/user-id.js';
import { buildKey, parseKey } from '../../src/files/keys.js';
import { folderProblem, nameProblem } from '../../src/files/names.js';
import { BAD_NAMES, GOOD_NAMES } from './name-cases.js';

describe('filename rules', () => {
  it.each(BAD_NAMES)('refuses %j (%s)', (name) => {
    expect(nameProblem(name)).toEqual(expect.any(String));
  });

  it.each(GOOD_NAMES.map((n) => [n]))('accepts %j as it is', (name) => {
    expect(nameProblem(name)).toBeNull();
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    expect(Buffer.byteLength('報'.repeat(85), 'utf8')).toBe(255);
    expect(nameProblem('報'.repeat(85))).toBeNull();
    expect(nameProblem('報'.repeat(85) + 'x')).toMatch(/255/);
  });
});

describe('folder rules', () => {
  const seg = (i: number) => String(i).padStart(2, '0') + '字'.repeat(84) + 'x'; // 255 bytes

  it('accepts 1 to 32 valid segments', () => {
    expect(folderProblem('main')).toBeNull();
    expect(folderProblem('main/pictures/2024')).toBeNull();
    expect(folderProblem(Array.from({ length: 32 }, (_, i) => seg(i)).join('/'))).toBeNull();
  });

  it.each([
    ['', 'empty'],
    ['/main', 'leading slash'],
    ['main/', 'trailing slash'],
    ['a//b', 'empty segment'],
    ['a/../b', 'dot-dot segment'],
    ['a/./b', 'dot segment'],
    ['..', 'dot-dot'],
    ['a\\b', 'backslash'],
    ['a/b\u0000', 'NUL'],
    ['a/e\u0301', 'NFD'],
    [Array.from({ length: 33 }, () => 'a').join('/'), '33 segments'],
    ['ok/' + 'x'.repeat(256), 'long segment'],
  ])('refuses %j (%s)', (folder) => {
    expect(folderProblem(folder)).toEqual(expect.any(String));
  });
});

describe('user_id rules', () => {
  it.each(['user123', 'a', 'A.b_c-d@example.com', 'x'.repeat(128)])('accepts %j', (id) => {
    expect(isValidUserId(id)).toBe(true);
  });
  it.each(['', '.hidden', '-x', '../x', 'a/b', 'a b', 'x'.repeat(129), 'ü', 'a\u0000', '%2e%2e'])('refuses %j', (id) => {
    expect(isValidUserId(id)).toBe(false);
  });
});

describe('keys', () => {
  const id = '0123456789abcdef0123456789abcdef';

  it('builds storage/{user_id}/{folder}/{id}_{filename} and parses it back', () => {
    const key = buildKey({ userId: 'u1', folder: 'main/pictures', id, filename: 'a b.jpg' });
    expect(key).toBe(`storage/u1/main/pictures/${id}_a b.jpg`);
    expect(parseKey(key)).toEqual({ userId: 'u1', folder: 'main/pictures', id, filename: 'a b.jpg' });
    expect(buildKey({ userId: 'u1', folder: '', id, filename: 'x' })).toBe(`storage/u1/${id}_x`);
  });

  it.each([
    ['storage/u1/../u2/' + id + '_x', 'parent segment'],
    ['storage/u1/' + id + '_..', 'dot-dot filename'],
    ['/storage/u1/' + id + '_x', 'absolute'],
    ['storage//u1/' + id + '_x', 'empty user'],
    ['storage/../u1/' + id + '_x', 'bad user'],
    ['storage/u1/x/' + id + '_a\u0000', 'NUL'],
    ['storage/u1/x\\y/' + id + '_a', 'backslash'],
    ['files/u1/' + id + '_a', 'not under storage'],
    ['storage/u1/abc_x', 'short id'],
    ['storage/u1', 'too short'],
  ])('parseKey refuses %j (%s) with 400 invalid_key', (key) => {
    expect(() => parseKey(key)).toThrow(expect.objectContaining({ code: 'invalid_key' }));
  });

  it('takes a literal "%2e%2e" segment as a name, never decoding it', () => {
    expect(parseKey(`storage/u1/%2e%2e/${id}_..%2f`)).toEqual({ userId: 'u1', folder: '%2e%2e', id, filename: '..%2f' });
  });
});
