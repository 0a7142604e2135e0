/**
 * `cli copy-data`: the flags, the stores on both sides, the progress line and the summary.
 * The source is this configuration (DATABASE_URL, STORAGE_BACKEND and its settings); each
 * target is named by a flag, and S3's settings come from the same S3_* variables the server
 * reads — so the source storage cannot be S3 when the target is.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.js';
import { exitOnConfigError, runtimeConfig } from '../config/runtime.js';
import { openMetadataStore } from '../db/open.js';
import type { MetadataStore } from '../db/types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { openBlobStore } from '../storage/open.js';
import { copyData, CopyConflict, type CopySummary } from './copy-data.js';
import { formatBytes, Progress } from './copy-data-progress.js';

export const COPY_DATA_USAGE = `usage: cli copy-data [--to-database URL] [--to-storage s3|local:DIR] [--parallel N] [--size-only]

Copies every user, file record and object of this configuration (DATABASE_URL, and
STORAGE_BACKEND with UPLOAD_ROOT or the S3_* variables) into the targets named, one or both:
  --to-database URL       postgres://user:pass@host/db (or sqlite:PATH), migrated first: users
                          with their password hashes and roles, file records, the quota ledger
  --to-storage s3         the bucket S3_BUCKET, reached with S3_ENDPOINT, S3_REGION,
                          S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_FORCE_PATH_STYLE, S3_PREFIX
                          (S3_CREATE_BUCKET=true creates it); the source storage is then the
                          local disk (STORAGE_BACKEND=local, UPLOAD_ROOT)
  --to-storage local:DIR  another directory, the target's UPLOAD_ROOT
  --parallel N            files copied at once (default 4, at most 64)
  --size-only             take a target object of the record's size as copied without reading
                          it (a faster re-run; a damaged copy of the right size goes unseen)

Every object is verified against its record's SHA-256 twice: as it streams from the source,
and read back from the target. Resumable: run it again after a failure or an interruption;
what the target already holds is checked and skipped, nothing in the target is deleted.
Not copied: open uploads (clients start them again), sessions (users log in again), ZIP links.
Stop the server while copying (files added meanwhile are picked up by running it again).
Progress goes to stderr, the summary to stdout. Exit 0 when every file is in the target,
1 when a file failed (each is named on stderr) or the copy stopped, 2 on a usage error.`;

class UsageError extends Error {}

type StorageTarget = { kind: 's3' } | { kind: 'local'; dir: string };

function parseStorage(value: string): StorageTarget {
  if (value === 's3') return { kind: 's3' };
  if (value.startsWith('local:') && value.length > 'local:'.length) return { kind: 'local', dir: path.resolve(value.slice('local:'.length)) };
  throw new UsageError(`--to-storage: expected s3 or local:DIR, got "${value}"`);
}

const sqlitePath = (url: string): string | null => (url.startsWith('sqlite:') ? path.resolve(url.slice('sqlite:'.length)) : null);

function sameDatabase(a: string, b: string): boolean {
  const pa = sqlitePath(a);
  return pa !== null ? pa === sqlitePath(b) : a === b;
}

/** The target's config for openBlobStore: the server's own settings, one backend swapped. */
function storageConfig(config: Config, target: StorageTarget): Config {
  if (target.kind === 'local') {
    if (config.storageBackend === 'local' && target.dir === config.uploadRoot) throw new UsageError('--to-storage: that directory is the source UPLOAD_ROOT');
    return { ...config, storageBackend: 'local', uploadRoot: target.dir };
  }
  if (config.storageBackend === 's3') {
    throw new UsageError('--to-storage s3: the S3_* variables already name the source (STORAGE_BACKEND=s3); copy from the local disk (STORAGE_BACKEND=local)');
  }
  if (!config.s3.bucket) throw new UsageError('--to-storage s3: set S3_BUCKET (and the other S3_* variables) to the target bucket');
  return { ...config, storageBackend: 's3' };
}

function printSummary(s: CopySummary, targets: { store: boolean; blobs: boolean }): void {
  const lines = [`files in the source: ${s.files.toLocaleString('en-US')} (${formatBytes(s.bytes)})`];
  if (targets.store) {
    lines.push(`users:   ${s.users.copied} copied, ${s.users.present} already in the target`);
    lines.push(`records: ${s.records.copied} copied, ${s.records.present} already in the target`);
  }
  if (targets.blobs) {
    lines.push(
      `objects: ${s.objects.copied} copied (${formatBytes(s.objects.copiedBytes)}, each verified), ` +
        `${s.objects.present} already in the target (checked by ${s.objects.checkedBy}), ${s.objects.replaced} replaced`,
    );
  }
  lines.push(`failed:  ${s.failed}${s.failed ? ' (named on stderr; fix and run again)' : ''}`);
  lines.push(`not copied: ${s.openUploads} open upload(s) (their clients start them again), sessions (users log in again)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function copyDataCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'to-database': { type: 'string' },
        'to-storage': { type: 'string' },
        parallel: { type: 'string' },
        'size-only': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${COPY_DATA_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${COPY_DATA_USAGE}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = runtimeConfig((m) => process.stderr.write(`warning: ${m}\n`));
  } catch (err) {
    exitOnConfigError(err);
  }
  const opened: { close(): Promise<void> }[] = [];
  const open = async <T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> => {
    const v = await p;
    opened.push(v);
    return v;
  };
  try {
    const toDatabase = values['to-database'];
    const storage = values['to-storage'] === undefined ? undefined : parseStorage(values['to-storage']);
    if (toDatabase === undefined && storage === undefined) throw new UsageError('name a target: --to-database URL, --to-storage s3|local:DIR, or both');
    if (toDatabase !== undefined && sameDatabase(toDatabase, config.databaseUrl)) throw new UsageError('--to-database: that is the source DATABASE_URL');
    const parallel = values.parallel === undefined ? 4 : Number(values.parallel);
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new UsageError(`--parallel: expected 1 to 64, got "${values.parallel}"`);
    const targetStorageConfig = storage && storageConfig(config, storage);

    const source = { store: await open(openMetadataStore(config)), blobs: storage ? await open(openBlobStore(config)) : undefined };
    const targets: { store?: MetadataStore; blobs?: BlobStore } = {
      store: toDatabase === undefined ? undefined : await open(openMetadataStore({ databaseUrl: toDatabase, databasePoolMax: config.databasePoolMax })),
      blobs: targetStorageConfig ? await open(openBlobStore(targetStorageConfig)) : undefined,
    };
    let progress: Progress | undefined;
    const summary = await copyData(source, targets, {
      parallel,
      sizeOnly: values['size-only'] === true,
      progress: (total) => (progress = new Progress(process.stderr, total)),
      report: (line) => (progress ? progress.note(line) : process.stderr.write(`${line}\n`)),
    });
    printSummary(summary, { store: !!targets.store, blobs: !!targets.blobs });
    return summary.failed === 0 ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${COPY_DATA_USAGE}\n`);
      return 2;
    }
    const what = err instanceof CopyConflict ? 'the target cannot take this copy' : 'copy stopped';
    process.stderr.write(`${what}: ${(err as Error).message}\nNothing copied so far is lost: run the same command again to resume.\n`);
    return 1;
  } finally {
    for (const s of opened.reverse()) await s.close().catch(() => {});
  }
}
