/**
 * resolveInside: the one choke point from key to disk path. Every traversal form is refused
 * with 400 invalid_key, and whatever it accepts lies strictly under the root (checked on the
 * strings alone, no symlinks involved).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keySegments, resolveInside } from '../../src/storage/safe-path.js';

const root = '/srv/uploads';

describe('resolveInside', () => {
  it.each([
    ['..'],
    ['../etc/passwd'],
    ['storage/../../etc/passwd'],
    ['storage/u1/../../../etc'],
    ['storage/u1/..'],
    ['./storage/u1/x'],
    ['storage/./u1/x'],
    ['/etc/passwd'],
    ['//etc/passwd'],
    ['storage/u1/a\\..\\..\\x'],
    ['..\\etc'],
    ['storage/u1/a\u0000b'],
    ['storage//u1/x'],
    ['storage/u1/'],
    [''],
    ['x'.repeat(8193)],
  ])('refuses %j with 400 invalid_key', (key) => {
    expect(() => resolveInside(root, key)).toThrow(expect.objectContaining({ code: 'invalid_key' }));
  });

  it('maps a key to <root>/<key>', () => {
    expect(resolveInside(root, 'storage/u1/main/abc_x.txt')).toBe('/srv/uploads/storage/u1/main/abc_x.txt');
    expect(resolveInside('/srv/uploads/', 'storage/u1/f')).toBe('/srv/uploads/storage/u1/f');
    expect(resolveInside('relative/root', 'a')).toBe(path.resolve('relative/root', 'a'));
  });

  it('takes encoded-looking segments literally (no decoding happens here)', () => {
    expect(resolveInside(root, 'storage/u1/%2e%2e/..%2f')).toBe('/srv/uploads/storage/u1/%2e%2e/..%2f');
    expect(resolveInside(root, 'storage/u1/...')).toBe('/srv/uploads/storage/u1/...');
  });

  it('never resolves outside the root, whatever it is given (fuzzed)', () => {
    const alphabet = ['.', '..', '/', '\\', 'a', '%2e', '\u0000', 'storage', '~', ' '];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const key = Array.from({ length: 1 + (next() % 12) }, () => alphabet[next() % alphabet.length]).join('');
      let resolved: string;
      try {
        resolved = resolveInside(root, key);
      } catch (err) {
        expect(err).toMatchObject({ code: 'invalid_key' });
        continue;
      }
      expect(resolved.startsWith(root + path.sep), key).toBe(true);
      expect(path.relative(root, resolved).split(path.sep)).not.toContain('..');
    }
  });
});

describe('keySegments', () => {
  it('splits a valid key into its segments', () => {
    expect(keySegments('storage/u1/a b/c')).toEqual(['storage', 'u1', 'a b', 'c']);
  });
});
