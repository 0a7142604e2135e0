import { describe, expect, it } from 'vitest';
import { multipartPlan } from '../../src/serve/multipart.js';
import type { ByteRange } from '../../src/serve/range.js';

// Assemble the body exactly as a streamer would, from a real byte buffer.
function assemble(plan: ReturnType<typeof multipartPlan>, body: Buffer): Buffer {
  const chunks: Buffer[] = [];
  for (const p of plan.parts) {
    chunks.push(Buffer.from(p.header, 'latin1'), body.subarray(p.range.start, p.range.end + 1));
  }
  chunks.push(Buffer.from(plan.trailer, 'latin1'));
  return Buffer.concat(chunks);
}

const BODY = Buffer.from('0123456789abcdefghij'); // 20 bytes

describe('multipartPlan', () => {
  it('produces the RFC 9110 §14.6 layout byte for byte', () => {
    const plan = multipartPlan([{ start: 0, end: 2 }, { start: 10, end: 12 }], 20, 'text/plain', 'XYZ');
    const expected =
      '--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/20\r\n\r\n012' +
      '\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-12/20\r\n\r\nabc' +
      '\r\n--XYZ--\r\n';
    expect(assemble(plan, BODY).toString('latin1')).toBe(expected);
    expect(plan.length).toBe(Buffer.byteLength(expected));
    expect(plan.contentType).toBe('multipart/byteranges; boundary=XYZ');
  });

  it.each([
    ['single range', [{ start: 5, end: 5 }]],
    ['whole body in one part', [{ start: 0, end: 19 }]],
    ['three ranges', [{ start: 0, end: 0 }, { start: 4, end: 8 }, { start: 19, end: 19 }]],
  ] as [string, ByteRange[]][])('length matches the assembled body: %s', (_name, ranges) => {
    const plan = multipartPlan(ranges, 20, 'application/octet-stream', 'b0undary_-');
    expect(assemble(plan, BODY).length).toBe(plan.length);
  });

  it('counts digits of large sizes and offsets (> 2^32)', () => {
    const size = 10 * 1024 ** 3;
    const ranges = [{ start: 0, end: 99 }, { start: size - 100, end: size - 1 }];
    const plan = multipartPlan(ranges, size, 'video/mp4', 'B');
    const headerBytes = plan.parts.reduce((n, p) => n + Buffer.byteLength(p.header), 0);
    expect(plan.parts[1]!.header).toContain(`Content-Range: bytes ${size - 100}-${size - 1}/${size}\r\n`);
    expect(plan.length).toBe(headerBytes + 200 + Buffer.byteLength(plan.trailer));
  });

  it('copies ranges instead of aliasing the caller’s objects', () => {
    const ranges = [{ start: 1, end: 2 }];
    const plan = multipartPlan(ranges, 20, 'text/plain', 'B');
    ranges[0]!.end = 19;
    expect(plan.parts[0]!.range).toEqual({ start: 1, end: 2 });
  });

  it.each([
    ['empty boundary', ''],
    ['boundary with space', 'a b'],
    ['boundary with quote', 'a"b'],
    ['boundary with CRLF', 'a\r\nb'],
    ['boundary of 71 chars', 'a'.repeat(71)],
  ])('rejects %s', (_name, boundary) => {
    expect(() => multipartPlan([{ start: 0, end: 1 }], 20, 'text/plain', boundary)).toThrow(TypeError);
  });

  it('accepts a 70-char boundary', () => {
    expect(() => multipartPlan([{ start: 0, end: 1 }], 20, 'text/plain', 'a'.repeat(70))).not.toThrow();
  });

  it.each([
    ['CRLF injection', 'text/plain\r\nX-Evil: 1'],
    ['empty', ''],
    ['non-ASCII', 'text/plain; name=é'],
  ])('rejects a content type with %s', (_name, type) => {
    expect(() => multipartPlan([{ start: 0, end: 1 }], 20, type, 'B')).toThrow(TypeError);
  });

  it.each([
    ['end at size', [{ start: 0, end: 20 }]],
    ['start after end', [{ start: 5, end: 4 }]],
    ['negative start', [{ start: -1, end: 4 }]],
    ['fractional offset', [{ start: 0.5, end: 4 }]],
  ] as [string, ByteRange[]][])('rejects a range with %s', (_name, ranges) => {
    expect(() => multipartPlan(ranges, 20, 'text/plain', 'B')).toThrow(RangeError);
  });

  it('rejects an empty range list', () => {
    expect(() => multipartPlan([], 20, 'text/plain', 'B')).toThrow(TypeError);
  });
});
