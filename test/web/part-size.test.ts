/**
 * The page's part size for a new upload: 8 MiB (the server's default) for small files, doubling
 * up to 64 MiB while the file keeps at least 16 parts.
 */
import { describe, expect, it } from 'vitest';
import { partSizeFor } from '../../web/src/uploads/part-size.js';

const MiB = 1024 * 1024;

describe('web app: part size by file size', () => {
  it('keeps 8 MiB below 256 MiB, then grows with the file up to 64 MiB', () => {
    expect(partSizeFor(0)).toBe(8 * MiB);
    expect(partSizeFor(50 * MiB)).toBe(8 * MiB);
    expect(partSizeFor(256 * MiB - 1)).toBe(8 * MiB);
    expect(partSizeFor(256 * MiB)).toBe(16 * MiB);
    expect(partSizeFor(512 * MiB)).toBe(32 * MiB);
    expect(partSizeFor(1024 * MiB)).toBe(64 * MiB);
    expect(partSizeFor(100 * 1024 * MiB)).toBe(64 * MiB);
  });

  it('never leaves fewer than 16 parts once past 8 MiB, and stays within the server bounds (5–512 MiB)', () => {
    for (let size = MiB; size <= 64 * 1024 * MiB; size = Math.ceil(size * 1.37)) {
      const p = partSizeFor(size);
      expect(p).toBeGreaterThanOrEqual(5 * MiB);
      expect(p).toBeLessThanOrEqual(512 * MiB);
      if (p > 8 * MiB) expect(Math.ceil(size / p)).toBeGreaterThanOrEqual(16);
    }
  });
});
