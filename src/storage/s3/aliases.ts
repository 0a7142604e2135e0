/**
 * Objects by reference. A chunked upload is completed where its multipart upload lives
 * (`.uploads/{uploadId}`: the final key is only known at completion), and the key then gets
 * an *alias*: an empty object whose metadata names that completed object and its size.
 * Completing a 1 GiB upload is then two small requests instead of a 1 GiB server-side copy
 * (8 s on the CI's Swift; proportional to the size on AWS too), and the parts stay where
 * they are, so a completion that fails after this point can run again.
 *
 * Readers resolve a key to the object holding its bytes: an object written whole
 * (writeObject) holds them itself; an alias points to `.uploads/…`. Resolutions of aliases are
 * cached (a key's bytes never change: keys are never reused), so reading a chunked upload's
 * file costs one request after the first.
 */
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isMissingObject, s3Call, toDomainError } from './errors.js';
import type { ObjectNames } from './names.js';

/** User metadata of an alias (x-amz-meta-sl-blob / -sl-size). */
const BLOB = 'sl-blob';
const SIZE = 'sl-size';
const CACHE_ENTRIES = 20_000;

export interface Resolved {
  /** The object holding the bytes. */
  name: string;
  size: number;
  mtime: Date;
  /** The key's object is an alias of `name`. */
  alias: boolean;
}

interface ObjectHead {
  Metadata?: Record<string, string>;
  ContentLength?: number;
  LastModified?: Date;
}

export interface AliasContext {
  client: S3Client;
  bucket: string;
  names: ObjectNames;
}

export class Aliases {
  private readonly cache = new Map<string, Resolved>();

  constructor(private readonly c: AliasContext) {}

  /** Makes `name` (a key's object) an alias of the completed upload `uploadId`, `size` bytes. */
  async put(name: string, uploadId: string, size: number): Promise<void> {
    const Metadata = { [BLOB]: this.c.names.staging(uploadId).slice(this.c.names.prefix.length), [SIZE]: String(size) };
    await s3Call(() => this.c.client.send(new PutObjectCommand({ Bucket: this.c.bucket, Key: name, Body: Buffer.alloc(0), ContentLength: 0, Metadata })));
    this.cache.delete(name);
  }

  /** What a GET or HEAD of a key's object says: the bytes are elsewhere (an alias), or here. */
  resolvedFrom(name: string, head: ObjectHead): Resolved {
    const target = head.Metadata?.[BLOB];
    const mtime = head.LastModified ?? new Date(0);
    if (target === undefined) return { name, size: head.ContentLength ?? 0, mtime, alias: false };
    // Only ever a completed upload of this store: metadata never names anything else.
    const blob = this.c.names.prefix + target;
    if (this.c.names.uploadIdOf(blob) === null) {
      throw toDomainError(new Error(`object ${name} is an alias of something else: ${target}`));
    }
    const resolved = { name: blob, size: Number(head.Metadata?.[SIZE] ?? 0), mtime, alias: true };
    this.remember(name, resolved);
    return resolved;
  }

  /** The cached resolution of an alias, if this instance has met it. */
  cached(name: string): Resolved | undefined {
    return this.cache.get(name);
  }

  /** Where a key's bytes are (HEAD of its object unless cached), or null when it has none. */
  async resolve(name: string): Promise<Resolved | null> {
    const known = this.cache.get(name);
    if (known) return known;
    try {
      return this.resolvedFrom(name, await this.c.client.send(new HeadObjectCommand({ Bucket: this.c.bucket, Key: name })));
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw toDomainError(err);
    }
  }

  forget(name: string): void {
    this.cache.delete(name);
  }

  private remember(name: string, r: Resolved): void {
    this.cache.delete(name);
    this.cache.set(name, r);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
  }
}
