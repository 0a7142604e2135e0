/**
 * The one-request upload on S3: the body streams through the Meter (size limit, SHA-256 and
 * MD5 in flight) into a multipart upload at the object's name, one part of `partSize` bytes
 * at a time: at most one part in flight while the next fills, so memory stays under two parts
 * whatever the file's size. A body smaller than one part goes as a single PutObject. S3 shows
 * the object only when the multipart upload completes, so a failure (over the limit, client
 * gone) aborts it and leaves nothing at the name; a crash leaves a multipart upload that
 * removeTemporary aborts once it is old.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { WriteOptions, WrittenBlob } from '../blob-store.js';
import { Meter } from '../meter.js';
import { s3Call } from './errors.js';

export interface Target {
  client: S3Client;
  bucket: string;
  name: string;
}

/** Gathers chunks into parts of exactly `size` bytes (the last one shorter). */
class PartBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly size: number) {}
  /** The whole parts `chunk` completes (none, one, or several for a big chunk). */
  add(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < this.size) return [];
    const all = Buffer.concat(this.chunks, this.bytes);
    const parts: Buffer[] = [];
    let at = 0;
    for (; all.length - at >= this.size; at += this.size) parts.push(all.subarray(at, at + this.size));
    // The rest is copied out, so the big buffer goes with the parts once they are sent.
    this.chunks = at < all.length ? [Buffer.from(all.subarray(at))] : [];
    this.bytes = all.length - at;
    return parts;
  }
  rest(): Buffer {
    return Buffer.concat(this.chunks, this.bytes);
  }
}

export async function writeObjectStreamed(t: Target, body: Readable, opts: WriteOptions, partSize: number): Promise<WrittenBlob> {
  const meter = new Meter(opts.maxBytes, { tooLarge: opts.tooLarge, md5: opts.md5 });
  const flowing = pipeline(body, meter);
  flowing.catch(() => undefined); // the loop below sees the same failure through the meter
  const buffer = new PartBuffer(partSize);
  const parts: CompletedPart[] = [];
  let uploadId: string | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const send = async (bytes: Buffer): Promise<void> => {
    uploadId ??= (await s3Call(() => t.client.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.name })))).UploadId!;
    const PartNumber = parts.length + 1;
    parts.push({ PartNumber });
    const id = uploadId;
    await inFlight; // one part in flight while the next one fills
    inFlight = s3Call(() => t.client.send(new UploadPartCommand({ Bucket: t.bucket, Key: t.name, UploadId: id, PartNumber, Body: bytes, ContentLength: bytes.length }))).then((out) => {
      parts[PartNumber - 1] = { PartNumber, ETag: out.ETag };
    });
    inFlight.catch(() => undefined); // awaited before the next part or at the end
  };
  try {
    for await (const chunk of meter) {
      for (const part of buffer.add(chunk as Buffer)) await send(part);
    }
    await flowing;
    const rest = buffer.rest();
    if (uploadId === undefined) {
      await s3Call(() => t.client.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.name, Body: rest, ContentLength: rest.length })));
    } else {
      if (rest.length > 0) await send(rest);
      await inFlight;
      const id = uploadId;
      await s3Call(() => t.client.send(new CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: t.name, UploadId: id, MultipartUpload: { Parts: parts } })));
    }
    return meter.result();
  } catch (err) {
    body.destroy();
    await inFlight.catch(() => undefined);
    const id = uploadId;
    if (id !== undefined) await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.name, UploadId: id })).catch(() => undefined);
    throw err;
  }
}
