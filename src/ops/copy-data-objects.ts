/**
 * One object of `copy-data`: is it already in the target, and if not, copy it and prove the
 * copy. Everything streams (a file of any size costs a few chunks of memory), and only the
 * record's SHA-256 decides what "the same bytes" means:
 *  - a target object of the record's size is hashed (or, with `sizeOnly`, taken on its size);
 *  - a copy is hashed on the way in (the source's bytes, checked against the record: a source
 *    that no longer matches its record is not copied) and read back from the target once
 *    written (the target's bytes, checked again). A failed check removes the target object.
 */
import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FileRecord } from '../db/types.js';
import { BlobNotFound } from '../errors/index.js';
import type { BlobStore } from '../storage/blob-store.js';

export type ObjectOutcome =
  | { kind: 'present'; checkedBy: 'sha256' | 'size' }
  /** `replaced`: the target held an object under the key whose bytes were not the record's. */
  | { kind: 'copied'; replaced: boolean }
  | { kind: 'failed'; reason: string };

export interface ObjectCopyOptions {
  /** Take a target object of the right size as copied without reading it (a resumed run, quickly). */
  sizeOnly: boolean;
  /** Progress: called with the bytes streamed, weighted so that one file adds up to its size. */
  credit(bytes: number): void;
}

/** Streams `stream` through SHA-256, crediting `weight` per byte; returns the hex digest. */
async function hashStream(stream: Readable, credit: (n: number) => void, weight: number): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
    credit(chunk.length * weight);
  }
  return { sha256: hash.digest('hex'), size };
}

/** Counts bytes on their way from the source to the target (for the progress line). */
class Counter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onBytes(chunk.length);
    done(null, chunk);
  }
}

class SourceTooLong extends Error {}

export async function copyObject(file: FileRecord, from: BlobStore, to: BlobStore, opts: ObjectCopyOptions): Promise<ObjectOutcome> {
  const existing = await to.stat(file.key);
  if (existing && existing.size === file.size) {
    if (opts.sizeOnly) {
      opts.credit(file.size);
      return { kind: 'present', checkedBy: 'size' };
    }
    const held = await hashStream(await to.read(file.key), opts.credit, 1);
    if (held.sha256 === file.sha256 && held.size === file.size) return { kind: 'present', checkedBy: 'sha256' };
  }
  const replaced = existing !== null;

  let body: Readable;
  try {
    body = await from.read(file.key);
  } catch (err) {
    if (err instanceof BlobNotFound) return { kind: 'failed', reason: 'no object in the source storage for this record' };
    throw err;
  }
  // Half the file's weight for the copy, half for reading the copy back.
  // pipeline: an error on either side destroys both (the source's file handle is released).
  const counted = pipeline(body, new Counter((n) => opts.credit(n / 2)), () => {});
  let written;
  try {
    written = await to.writeObject(file.key, counted, {
      maxBytes: file.size,
      md5: false,
      tooLarge: () => new SourceTooLong(),
    });
  } catch (err) {
    counted.destroy();
    if (err instanceof SourceTooLong) {
      await to.delete(file.key);
      return { kind: 'failed', reason: `the source object is larger than the record's ${file.size} bytes` };
    }
    throw err;
  }
  if (written.size !== file.size || written.sha256 !== file.sha256) {
    await to.delete(file.key);
    return {
      kind: 'failed',
      reason: `the source object (${written.size} bytes, sha256 ${written.sha256}) is not the record's (${file.size} bytes, sha256 ${file.sha256}); not copied`,
    };
  }
  const back = await hashStream(await to.read(file.key), opts.credit, 0.5);
  if (back.sha256 !== file.sha256 || back.size !== file.size) {
    await to.delete(file.key);
    return { kind: 'failed', reason: `the copy read back from the target (${back.size} bytes, sha256 ${back.sha256}) differs from what was sent; removed` };
  }
  return { kind: 'copied', replaced };
}
