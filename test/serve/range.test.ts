import { describe, expect, it } from 'vitest';
import {
  contentRange,
  mergeRanges,
  parseRange,
  unsatisfiedContentRange,
  type ByteRange,
} from '../../src/serve/range.js';

const SIZE = 1000;
const r = (start: number, end: number): ByteRange => ({ start, end });

describe('parseRange: satisfiable ranges', () => {
  const cases: [string, string, ByteRange[]][] = [
    ['a-b', 'bytes=0-499', [r(0, 499)]],
    ['a- (open end)', 'bytes=500-', [r(500, 999)]],
    ['-n (suffix)', 'bytes=-100', [r(900, 999)]],
    ['suffix larger than size means whole body', 'bytes=-5000', [r(0, 999)]],
    ['suffix equal to size', 'bytes=-1000', [r(0, 999)]],
    ['end beyond size is clamped', 'bytes=990-2000', [r(990, 999)]],
    ['huge end is clamped', 'bytes=0-99999999999999999999999', [r(0, 999)]],
    ['last byte', 'bytes=999-999', [r(999, 999)]],
    ['first byte', 'bytes=0-0', [r(0, 0)]],
    ['unit is case-insensitive (RFC 9110 §14.1)', 'BYTES=0-1', [r(0, 1)]],
    ['leading zeros are still digits', 'bytes=007-010', [r(7, 10)]],
    ['two disjoint ranges', 'bytes=0-1,5-6', [r(0, 1), r(5, 6)]],
    ['spaces around commas', 'bytes=0-1 , 5-6', [r(0, 1), r(5, 6)]],
    ['tabs around commas', 'bytes=0-1\t,\t5-6', [r(0, 1), r(5, 6)]],
    ['overlapping ranges merge', 'bytes=0-9,5-19', [r(0, 19)]],
    ['adjacent ranges merge', 'bytes=0-9,10-19', [r(0, 19)]],
    ['a one-byte gap does not merge', 'bytes=0-9,11-19', [r(0, 9), r(11, 19)]],
    ['contained range merges', 'bytes=0-99,10-20', [r(0, 99)]],
    ['output is sorted ascending', 'bytes=20-29,0-9', [r(0, 9), r(20, 29)]],
    ['suffix merges with an adjacent range', 'bytes=0-9,-990', [r(0, 999)]],
    ['unsatisfiable members are dropped', 'bytes=0-9,5000-6000', [r(0, 9)]],
    ['-0 member is dropped when others are satisfiable', 'bytes=-0,0-9', [r(0, 9)]],
    ['sum exactly equal to size is not amplification', 'bytes=0-499,250-749', [r(0, 749)]],
  ];
  it.each(cases)('%s: %s', (_name, header, expected) => {
    expect(parseRange(header, SIZE)).toEqual({ kind: 'ranges', ranges: expected });
  });
});

describe('parseRange: ignored headers (serve whole body)', () => {
  const cases: [string, string | undefined][] = [
    ['absent', undefined],
    ['empty', ''],
    ['no dash', 'bytes=10'],
    ['exponent notation', 'bytes=1e2-2e2'],
    ['space after =', 'bytes= 0-1'],
    ['trailing space', 'bytes=0-1 '],
    ['space before =', 'bytes =0-1'],
    ['space before dash', 'bytes=0 -1'],
    ['space after dash', 'bytes=0- 1'],
    ['negative start', 'bytes=-1-5'],
    ['double dash', 'bytes=--1'],
    ['plus sign', 'bytes=+1-5'],
    ['negative end', 'bytes=0--5'],
    ['hex', 'bytes=0x10-20'],
    ['decimal point', 'bytes=1.5-2'],
    ['non-ASCII digits', 'bytes=\u0663-\u0664'],
    ['a > b is invalid', 'bytes=5-3'],
    ['one invalid member poisons the set', 'bytes=0-1,5-3'],
    ['unknown unit', 'items=0-1'],
    ['missing =', 'bytes 0-1'],
    ['unit prefix only', 'bytes='],
    ['lone dash', 'bytes=-'],
    ['trailing comma', 'bytes=0-1,'],
    ['leading comma', 'bytes=,0-1'],
    ['empty list element', 'bytes=0-1,,2-3'],
    ['semicolon separator', 'bytes=0-1;2-3'],
    ['amplification: 0-,0-,0-', 'bytes=0-,0-,0-'],
    ['amplification: overlaps summing past size', 'bytes=0-599,400-999'],
    ['amplification: repeated suffixes', 'bytes=-600,-600'],
  ];
  it.each(cases)('%s: %j', (_name, header) => {
    expect(parseRange(header, SIZE)).toEqual({ kind: 'none' });
  });
});

describe('parseRange: unsatisfiable (416)', () => {
  const cases: [string, string][] = [
    ['start equal to size', 'bytes=1000-'],
    ['start beyond size', 'bytes=1000-2000'],
    ['zero-length suffix', 'bytes=-0'],
    ['all members unsatisfiable', 'bytes=5000-6000,-0'],
    ['start beyond 2^53', 'bytes=99999999999999999999-'],
  ];
  it.each(cases)('%s: %s', (_name, header) => {
    expect(parseRange(header, SIZE)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('parseRange: range count limit (after merging)', () => {
  const disjoint = (n: number) => Array.from({ length: n }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');

  it('accepts exactly 16 disjoint ranges', () => {
    const res = parseRange(`bytes=${disjoint(16)}`, SIZE);
    expect(res.kind === 'ranges' && res.ranges.length).toBe(16);
  });

  it('ignores 17 disjoint ranges', () => {
    expect(parseRange(`bytes=${disjoint(17)}`, SIZE)).toEqual({ kind: 'none' });
  });

  it('counts after merging: 17 adjacent ranges become one', () => {
    const adjacent = Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',');
    expect(parseRange(`bytes=${adjacent}`, SIZE)).toEqual({ kind: 'ranges', ranges: [r(0, 16)] });
  });

  it('honours opts.maxRanges', () => {
    expect(parseRange('bytes=0-1,3-4', SIZE, { maxRanges: 1 })).toEqual({ kind: 'none' });
    expect(parseRange('bytes=0-1,3-4', SIZE, { maxRanges: 2 })).toEqual({
      kind: 'ranges',
      ranges: [r(0, 1), r(3, 4)],
    });
  });
});

describe('parseRange: zero-length body', () => {
  // Documented choice: ignore Range and send 200 with an empty body.
  it.each(['bytes=0-0', 'bytes=-1', 'bytes=0-', 'bytes=-0'])('%s → none', (header) => {
    expect(parseRange(header, 0)).toEqual({ kind: 'none' });
  });

  it('a one-byte body still honours ranges', () => {
    expect(parseRange('bytes=0-0', 1)).toEqual({ kind: 'ranges', ranges: [r(0, 0)] });
    expect(parseRange('bytes=1-', 1)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('parseRange: invalid size is a caller bug', () => {
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('throws for size %s', (size) => {
    expect(() => parseRange('bytes=0-1', size)).toThrow(TypeError);
  });
});

describe('mergeRanges', () => {
  it('does not mutate its input', () => {
    const input = [r(10, 20), r(0, 10)];
    const out = mergeRanges(input);
    expect(out).toEqual([r(0, 20)]);
    expect(input).toEqual([r(10, 20), r(0, 10)]);
  });
});

describe('Content-Range values', () => {
  it('formats a satisfied range', () => {
    expect(contentRange(r(0, 9), 1000)).toBe('bytes 0-9/1000');
  });
  it('formats an unsatisfied range', () => {
    expect(unsatisfiedContentRange(1000)).toBe('bytes */1000');
  });
});
