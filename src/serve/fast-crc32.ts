/**
 * archiver computes every entry's CRC-32 with the pure-JS `crc-32` package (~0.5–1.6 GB/s
 * here), which caps ZIP streaming well below disk and socket speed. Node ≥ 20.15 has a
 * native `zlib.crc32` (~4 GB/s). This swaps `crc-32`'s `buf` for it, once, in the one
 * module instance archiver's ZIP writer imports. It only patches after checking that both
 * give the same answers (including chaining), and does nothing if either piece is missing,
 * so the worst case is the old speed. `unzip -t` in the tests checks every CRC.
 */
import { createRequire } from 'node:module';
import zlib from 'node:zlib';

type Crc32Module = { buf: (data: Uint8Array, seed?: unknown) => number; __nativeCrc32?: boolean };

let patched = false;

export function useNativeCrc32(): boolean {
  if (patched) return true;
  const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  if (typeof native !== 'function') return false;
  let mods: Crc32Module[];
  try {
    mods = crc32Instances();
  } catch {
    return false;
  }
  for (const mod of mods) if (!patchOne(mod, native)) return false;
  return (patched = true);
}

/** The `crc-32` instances archiver's ZIP writer and its CRC streams import (one when hoisted). */
function crc32Instances(): Crc32Module[] {
  const from = (parent: string) => createRequire(parent);
  const archiver = from(import.meta.url).resolve('archiver');
  const zipStream = from(archiver).resolve('zip-stream');
  const commons = from(zipStream).resolve('compress-commons');
  const crcStream = from(commons).resolve('crc32-stream');
  const seen = new Set<Crc32Module>();
  for (const base of [commons, crcStream]) seen.add(from(base)('crc-32') as Crc32Module);
  return [...seen];
}

function patchOne(mod: Crc32Module, native: (data: Uint8Array, value?: number) => number): boolean {
  if (mod.__nativeCrc32) return true;
  const original = mod.buf;
  // crc-32 returns a signed int32 and treats a non-number seed as 0 (crc32-stream passes a
  // Buffer as its first seed); keep both behaviours.
  const fast = (data: Uint8Array, seed?: unknown): number => native(data, typeof seed === 'number' ? seed >>> 0 : 0) | 0;
  const sample = Buffer.from(Array.from({ length: 4099 }, (_, i) => (i * 131 + 7) & 0xff));
  const agrees =
    fast(sample) === original(sample) &&
    fast(sample.subarray(100), fast(sample.subarray(0, 100))) === original(sample.subarray(100), original(sample.subarray(0, 100))) &&
    fast(sample, Buffer.alloc(4)) === original(sample, Buffer.alloc(4)) &&
    fast(Buffer.alloc(0)) === original(Buffer.alloc(0));
  if (!agrees) return false;
  mod.buf = fast;
  mod.__nativeCrc32 = true;
  return true;
}

type BufferCrc32Module = { unsigned: (data: Uint8Array, previous?: unknown) => number; __nativeCrc32?: boolean };

let yazlPatched = false;

/**
 * The same swap for yazl (stored ZIP batches, zip-stored.ts), whose CRC watcher calls
 * `buffer-crc32`'s `unsigned(chunk, previous)`: a byte-at-a-time JS loop (~0.3–0.5 GB/s here,
 * below `zip -0`'s pace on a busy machine). Patched only if both agree, like the above.
 */
export function useNativeCrc32ForYazl(): boolean {
  if (yazlPatched) return true;
  const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  if (typeof native !== 'function') return false;
  let mod: BufferCrc32Module;
  try {
    const require = createRequire(import.meta.url);
    mod = createRequire(require.resolve('yazl'))('buffer-crc32') as BufferCrc32Module;
  } catch {
    return false;
  }
  if (mod.__nativeCrc32) return (yazlPatched = true);
  const original = mod.unsigned;
  // buffer-crc32 reads a Buffer `previous` as a big-endian CRC and any other value as int32.
  const seed = (previous: unknown): number =>
    Buffer.isBuffer(previous) ? previous.readUInt32BE(0) : ~~(previous as number) >>> 0;
  const fast = (data: Uint8Array, previous?: unknown): number => native(data, seed(previous));
  const sample = Buffer.from(Array.from({ length: 4099 }, (_, i) => (i * 131 + 7) & 0xff));
  const head = sample.subarray(0, 100);
  const agrees =
    fast(sample) === original(sample) &&
    fast(sample.subarray(100), fast(head)) === original(sample.subarray(100), original(head)) &&
    fast(sample, Buffer.from([1, 2, 3, 4])) === original(sample, Buffer.from([1, 2, 3, 4])) &&
    fast(Buffer.alloc(0), 0) === original(Buffer.alloc(0), 0);
  if (!agrees) return false;
  mod.unsigned = fast;
  mod.__nativeCrc32 = true;
  return (yazlPatched = true);
}
