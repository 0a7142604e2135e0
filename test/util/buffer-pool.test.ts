/**
 * BufferPool: buffers given back are handed out again (up to the pool's cap), and a pool left
 * unused for its idle time lets them all go, so a burst of streams leaves no memory held after it.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/util/buffer-pool.js';

const KiB = 1024;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('BufferPool', () => {
  it('hands a given-back buffer out again, by size, and keeps no more than its cap', () => {
    const pool = new BufferPool(2 * 64 * KiB);
    const [a, b, c] = [pool.take(64 * KiB), pool.take(64 * KiB), pool.take(64 * KiB)];
    expect(pool.allocated).toBe(3);
    for (const buf of [a, b, c]) pool.give(buf);
    expect(pool.retainedBytes).toBe(2 * 64 * KiB); // the third one is left to GC
    expect([a, b]).toContain(pool.take(64 * KiB));
    expect(pool.take(32 * KiB)).toHaveLength(32 * KiB); // another size: a new one
    expect(pool.allocated).toBe(4);
  });

  it('lets its free buffers go once unused for its idle time, not while it is in use', async () => {
    const pool = new BufferPool(8 * 64 * KiB, 100);
    const bufs = Array.from({ length: 4 }, () => pool.take(64 * KiB));
    for (const buf of bufs) pool.give(buf);
    expect(pool.retainedBytes).toBe(4 * 64 * KiB);
    // In use every 40 ms for 300 ms: kept.
    for (let i = 0; i < 7; i++) {
      await wait(40);
      pool.give(pool.take(64 * KiB));
    }
    expect(pool.retainedBytes).toBe(4 * 64 * KiB);
    expect(pool.allocated).toBe(4);
    // Then left alone: all let go, and the next take allocates afresh.
    await wait(250);
    expect(pool.retainedBytes).toBe(0);
    const next = pool.take(64 * KiB);
    expect(bufs).not.toContain(next);
    expect(pool.allocated).toBe(5);
    // Given back, it is kept again until the pool is idle once more.
    pool.give(next);
    expect(pool.retainedBytes).toBe(64 * KiB);
    await wait(250);
    expect(pool.retainedBytes).toBe(0);
  });
});
