/**
 * The one choke point for disk paths: a key becomes an absolute path only after every
 * segment is checked and the result is proven to stay under the root.
 */
import path from 'node:path';
import { InvalidInput } from '../errors/index.js';

/** Rejects NUL, backslashes, absolute keys, empty, "." and ".." segments; returns the segments. */
export function keySegments(key: string): string[] {
  if (key.length === 0 || key.length > 8192) throw new InvalidInput('invalid_key', 'Invalid key');
  if (key.includes('\0') || key.includes('\\') || key.startsWith('/')) throw new InvalidInput('invalid_key', 'Invalid key');
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw new InvalidInput('invalid_key', 'Invalid key');
  }
  return segments;
}

/** Absolute path of `key` under `root`, or a 400 when it would escape. */
export function resolveInside(root: string, key: string): string {
  const absoluteRoot = path.resolve(root);
  const resolved = path.resolve(absoluteRoot, ...keySegments(key));
  if (!resolved.startsWith(absoluteRoot + path.sep)) throw new InvalidInput('invalid_key', 'Invalid key');
  return resolved;
}
