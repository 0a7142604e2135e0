/**
 * The test S3 server (OpenStack Swift + s3api, started by test/global-setup.ts through
 * .ci/start-s3.sh) and fresh, isolated places in it: each store or server under test gets a
 * key prefix of its own in the run's bucket (or a bucket of its own), so suites, projects and
 * instances share one server without seeing each other's objects or multipart uploads.
 *
 * The setup hands the server over as TEST_S3_* variables (give them yourself to use a server
 * of your own: TEST_S3_ENDPOINT, TEST_S3_BUCKET, TEST_S3_ACCESS_KEY_ID,
 * TEST_S3_SECRET_ACCESS_KEY, TEST_S3_REGION, TEST_S3_FORCE_PATH_STYLE). SL_TEST_S3=off leaves
 * the S3 suites out on a machine that cannot run Swift.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type MultipartUpload,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { describe } from 'vitest';
import { makeS3Client } from '../../src/storage/s3/client.js';
import { S3BlobStore, type S3StoreOptions } from '../../src/storage/s3/s3-store.js';

export interface S3TestSettings {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** The run's bucket: fresh prefixes live in it. */
  bucket: string;
}

/** True when the S3 suites were opted out (SL_TEST_S3=off and no server of one's own). */
export const s3OptedOut = process.env.SL_TEST_S3 === 'off' && !process.env.TEST_S3_ENDPOINT;

/** `describe` for S3 suites: runs them, or — only when opted out — says they were left out. */
export const describeS3: typeof describe.skip = (s3OptedOut ? describe.skip : describe) as typeof describe.skip;

/** The server's settings; throws (fails the suite) when none was started and none was opted out. */
export function s3Settings(): S3TestSettings {
  const e = process.env;
  if (!e.TEST_S3_ENDPOINT || !e.TEST_S3_BUCKET) {
    throw new Error('TEST_S3_ENDPOINT / TEST_S3_BUCKET are not set: the test setup did not start the S3 server (SL_TEST_S3=off leaves these suites out)');
  }
  return {
    endpoint: e.TEST_S3_ENDPOINT,
    region: e.TEST_S3_REGION ?? 'us-east-1',
    accessKeyId: e.TEST_S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: e.TEST_S3_SECRET_ACCESS_KEY ?? '',
    forcePathStyle: e.TEST_S3_FORCE_PATH_STYLE !== 'false',
    bucket: e.TEST_S3_BUCKET,
  };
}

/** An S3BlobStore on `place` of the test server (`over` changes its settings: a wrong key, another endpoint). */
export function s3StoreOn(place: { bucket: string; prefix: string }, opts: S3StoreOptions = {}, over: Partial<S3TestSettings> = {}): S3BlobStore {
  const s = { ...s3Settings(), ...over };
  return new S3BlobStore({ endpoint: s.endpoint, region: s.region, bucket: place.bucket, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, forcePathStyle: s.forcePathStyle, prefix: place.prefix }, opts);
}

/** The server's variables for `STORAGE_BACKEND=s3` on `bucket` under `prefix` ('' for none). */
export function s3Env(place: { bucket: string; prefix: string }): Record<string, string> {
  const s = s3Settings();
  return {
    STORAGE_BACKEND: 's3',
    S3_ENDPOINT: s.endpoint,
    S3_REGION: s.region,
    S3_BUCKET: place.bucket,
    S3_ACCESS_KEY_ID: s.accessKeyId,
    S3_SECRET_ACCESS_KEY: s.secretAccessKey,
    S3_FORCE_PATH_STYLE: String(s.forcePathStyle),
    ...(place.prefix ? { S3_PREFIX: place.prefix } : {}),
  };
}

/**
 * A client of the test server for the tests' own look (what is stored, which multipart uploads
 * are open), set up as the server sets up its own.
 */
export function testS3Client(): S3Client {
  const s = s3Settings();
  return makeS3Client({ ...s, prefix: '' });
}

let shared: S3Client | undefined;
/** One client per test process (closed with it). */
export function s3(): S3Client {
  return (shared ??= testS3Client());
}

/** Every object under `prefix` in `bucket`, all pages. */
export async function listObjects(bucket: string, prefix: string): Promise<_Object[]> {
  const out: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }));
    out.push(...(page.Contents ?? []));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Every multipart upload open under `prefix` in `bucket`, all pages. */
export async function listMultipartUploads(bucket: string, prefix: string): Promise<MultipartUpload[]> {
  const out: MultipartUpload[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await s3().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: idMarker }));
    out.push(...(page.Uploads ?? []));
    if (!page.IsTruncated) return out;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
}

/** Runs `fn` over `items`, `width` at a time. */
async function eachLimited<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Removes every object and multipart upload under `prefix` ('' = the whole bucket). */
export async function emptyPlace(bucket: string, prefix: string): Promise<void> {
  await eachLimited(await listMultipartUploads(bucket, prefix), 16, (u) => s3().send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })));
  const keys = (await listObjects(bucket, prefix)).map((o) => o.Key!);
  for (let i = 0; i < keys.length; i += 1000) {
    await s3().send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

/**
 * The setup's own Swift is removed whole when the run ends (start-s3.sh stop), so what a test
 * left there needs no clean-up (emptying a prefix with 1,000 open uploads took 25 s); on a
 * server of one's own, places are emptied.
 */
const throwaway = (): boolean => !!process.env.TEST_S3_DIR;

export interface S3Place {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  /** STORAGE_BACKEND=s3 and the S3_* variables for a server on this place. */
  env: Record<string, string>;
  /** Removes what was stored there (and the bucket, when it was made for this place); nothing to do on the setup's throwaway server. */
  drop(): Promise<void>;
}

/**
 * A new empty place: by default a fresh prefix (`<label>-<random>/`) in the run's bucket; with
 * `{ bucket: true }` a fresh bucket of its own and no prefix (keys then start at the bucket's
 * root, as a deployment without S3_PREFIX has them).
 */
export async function freshS3(label = 't', opts: { bucket?: boolean } = {}): Promise<S3Place> {
  const suffix = randomBytes(6).toString('hex');
  if (opts.bucket) {
    const bucket = `sl-${label}-${suffix}`.toLowerCase();
    await s3().send(new CreateBucketCommand({ Bucket: bucket }));
    return {
      bucket,
      prefix: '',
      env: s3Env({ bucket, prefix: '' }),
      async drop() {
        if (throwaway()) return;
        await emptyPlace(bucket, '');
        await s3().send(new DeleteBucketCommand({ Bucket: bucket }));
      },
    };
  }
  const { bucket } = s3Settings();
  const prefix = `${label}-${suffix}/`;
  return { bucket, prefix, env: s3Env({ bucket, prefix }), drop: async () => (throwaway() ? undefined : emptyPlace(bucket, prefix)) };
}

/**
 * Files the setup's Swift object server holds open under its devices directory, with their
 * sizes now ("pid:fd:target" → bytes). Swift writes an incoming object or part into an open
 * file (O_TMPFILE: it has no name until the PUT ends), so an open file is a PUT in progress.
 */
async function objectServerFiles(dir: string): Promise<Map<string, number>> {
  const conf = path.join(dir, 'etc', 'object-server.conf');
  const devices = path.join(dir, 'srv') + path.sep;
  const files = new Map<string, number>();
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(conf)) continue;
    for (const fd of await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (!target.startsWith(devices)) continue;
      const size = (await fs.stat(`/proc/${pid}/fd/${fd}`).catch(() => null))?.size;
      if (size !== undefined) files.set(`${pid}:${fd}:${target}`, size);
    }
  }
  return files;
}

/**
 * A probe for "bytes are streaming into the test server right now": true once the object
 * server holds open a file, not open when the probe was made, that has bytes in it. Null for a
 * server of one's own (only the setup's Swift is known: TEST_S3_DIR).
 */
export async function arrivingObjects(): Promise<(() => Promise<boolean>) | null> {
  const dir = process.env.TEST_S3_DIR;
  if (!dir) return null;
  const before = new Set((await objectServerFiles(dir)).keys());
  return async () => [...(await objectServerFiles(dir))].some(([file, size]) => !before.has(file) && size > 0);
}
