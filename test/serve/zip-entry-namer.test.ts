/**
 * F-14 at unit level: every name EntryNamer hands out is one archiver writes unchanged (its
 * "word:" stripping runs three times, once in each of archiver, zip-stream, compress-commons).
 */
import { describe, expect, it } from 'vitest';
import { EntryNamer, archiverNormalised } from '../../src/serve/zip.js';

describe('F-14 EntryNamer and archiver agree on names', () => {
  it('every name the namer hands out is one archiver keeps as it is', () => {
    const namer = new EntryNamer();
    for (const name of ['ab:cd:ef', 'ef', 'C:x', 'c:evil.txt', '1:2:3:4:5', 'dir:1/sub:2/f:3', 'a..b:c', '_:_', 'x:']) {
      const entry = namer.unique(name);
      expect(entry).not.toContain(':');
      expect(archiverNormalised(entry)).toBe(entry);
    }
    expect(archiverNormalised('ab:cd:ef')).toBe('ef');
    expect(archiverNormalised('ab_cd:ef')).toBe('ef');
  });

  it('names that differ only after sanitising are numbered, case-insensitively', () => {
    const namer = new EntryNamer();
    expect(['a:b', 'a_b', 'A_B', 'x/a:b', 'x/a_b'].map((n) => namer.unique(n))).toEqual(['a_b', 'a_b (2)', 'A_B (3)', 'x/a_b', 'x/a_b (2)']);
  });
});
