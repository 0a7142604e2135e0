/**
 * The S3 store's reads: GetObject of a key's bytes (through its alias for a chunked upload's
 * file), opened as an S3ObjectReader (object-reader.ts) or read whole when small.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { BlobNotFound } from '../../errors/index.js';
import type { BlobReader } from '../blob-store.js';
import type { Aliases } from './aliases.js';
import { isMissingObject, s3Call, s3ErrorName, toDomainError } from './errors.js';
import type { ObjectNames } from './names.js';
import { S3ObjectReader, segmentEnd, type ByteSpan } from './object-reader.js';

export interface ReadContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
  aliases: Aliases;
}

/** GetObject of `name`: null for a range that starts past the end (any range of an empty object). */
async function getObject(c: ReadContext, key: string, name: string, range?: ByteSpan): Promise<GetObjectCommandOutput | null> {
  try {
    return await c.client.send(new GetObjectCommand({ Bucket: c.bucket, Key: name, Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
  } catch (err) {
    if (isMissingObject(err)) throw new BlobNotFound(key);
    if (s3ErrorName(err) === 'InvalidRange') return null;
    throw toDomainError(err);
  }
}

/**
 * The key's bytes (a range of them) and the name of the object holding them: one GET for an
 * object written whole or an alias this instance has met; an alias met for the first time
 * costs a second (a third with a range: the empty alias answers 416, then a HEAD says where
 * it points). When no bytes come back (the range starts past the end), `size` says how many
 * the object has.
 */
async function bytesOf(c: ReadContext, key: string, range?: ByteSpan): Promise<{ out: GetObjectCommandOutput | null; name: string; size?: number }> {
  const name = c.names.object(key);
  const known = c.aliases.cached(name);
  if (known) return { out: await getObject(c, key, known.name, range), name: known.name, size: known.size };
  const out = await getObject(c, key, name, range);
  if (out === null) {
    const r = await c.aliases.resolve(name);
    if (r === null) throw new BlobNotFound(key);
    return { out: r.alias ? await getObject(c, key, r.name, range) : null, name: r.name, size: r.size };
  }
  const r = c.aliases.resolvedFrom(name, out);
  if (!r.alias) return { out, name };
  (out.Body as Readable).destroy();
  return { out: await getObject(c, key, r.name, range), name: r.name };
}

/**
 * The key opened for positional reads: ranged GETs of at most `segmentBytes`, in turn. The
 * first GET is sent here, so a missing object fails before any header is written; `range`
 * bounds what is fetched ahead.
 */
export async function openObjectReader(c: ReadContext, key: string, range: ByteSpan | undefined, segmentBytes: number): Promise<BlobReader> {
  const start = range?.start ?? 0;
  const end = range?.end ?? Number.MAX_SAFE_INTEGER;
  const first = { start, end: segmentEnd(start, end, segmentBytes) };
  const { out, name, size: known } = await bytesOf(c, key, first);
  const get = async (r: ByteSpan) => (await getObject(c, key, name, r))?.Body as Readable | null;
  // The range starts past the end (any range of an empty object): nothing open yet.
  if (!out) return new S3ObjectReader(known ?? 0, { start, end }, null, get, segmentBytes);
  const body = out.Body as Readable;
  if (!out.ContentRange) {
    // A 200: the server sent the whole object.
    const size = out.ContentLength ?? 0;
    return new S3ObjectReader(size, { start: 0, end: size - 1 }, { body, range: { start: 0, end: size - 1 } }, get, segmentBytes);
  }
  const size = Number(/\/(\d+)$/.exec(out.ContentRange)?.[1]); // `bytes a-b/size`
  const last = Math.min(end, size - 1);
  return new S3ObjectReader(size, { start, end: last }, { body, range: { start, end: Math.min(first.end, last) } }, get, segmentBytes);
}

export async function readSmallRange(c: ReadContext, key: string, range: ByteSpan): Promise<Buffer> {
  const { out } = await bytesOf(c, key, range);
  if (!out) return Buffer.alloc(0);
  const bytes = await s3Call(() => out.Body!.transformToByteArray());
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
