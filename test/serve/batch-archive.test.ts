/**
 * BatchService.openArchive without HTTP: a token opens the ZIP of its files, by id and in
 * order, leaving out what was deleted since; a stored name no ZIP entry can carry breaks the
 * archive with a typed error (UnsafeEntryName) that the job reports for the log.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchRecord, FileRecord, MetadataStore } from '../../src/db/types.js';
import { BlobNotFound, UnsafeEntryName } from '../../src/errors/index.js';
import { BatchService, hashToken } from '../../src/serve/batches.js';
import { ManualClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/app.js';
import { readZip } from './serve-helpers.js';

const T0 = 1_800_000_000;
const TOKEN = 'A'.repeat(43);

const fileOf = (n: number, folder: string, filename: string): FileRecord => {
  const id = n.toString(16).padStart(32, '0');
  return {
    id,
    key: `storage/u/${folder ? `${folder}/` : ''}${id}_${filename}`,
    userId: 'u',
    folder,
    filename,
    size: 0,
    mime: 'text/plain',
    sha256: 'e'.repeat(64),
    createdAt: new Date(T0 * 1000).toISOString(),
  };
};

/** A batch store holding one token, and sources over maps: the archive reads no disk. */
function serviceWith(records: FileRecord[], fileIds: string[], bytes: Map<string, string>, clock = new ManualClock(T0 * 1000)) {
  const batch: BatchRecord = {
    tokenHash: hashToken(TOKEN),
    userId: 'u',
    name: 'reports.zip',
    compression: 'store',
    fileIds,
    fileCount: fileIds.length,
    totalSize: 0,
    createdAt: T0,
    expiresAt: T0 + 900,
  };
  const getBatch = async (tokenHash: string, now: number) => (tokenHash === batch.tokenHash && now < batch.expiresAt ? batch : null);
  // openArchive reads only the batch store; the other ports are not part of this test.
  const store = { batches: { getBatch } } as unknown as MetadataStore;
  const byId = new Map(records.map((r) => [r.id, r]));
  const read = async (key: string): Promise<Readable> => {
    const body = bytes.get(key);
    if (body === undefined) throw new BlobNotFound(key);
    return Readable.from([Buffer.from(body)]);
  };
  const limits = { maxFiles: 10, maxBytes: 1e9, ttlSeconds: 900, maxOpen: 5 };
  return new BatchService(store, limits, { lookup: async (id) => byId.get(id) ?? null, blobs: { read } }, clock);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let work: string;
beforeAll(async () => {
  work = await tempDir('sl-batch-archive-');
});
afterAll(async () => fs.rm(work, { recursive: true, force: true }));

describe('BatchService.openArchive', () => {
  it('malformed, unknown and expired tokens are batch_not_found', async () => {
    const clock = new ManualClock(T0 * 1000);
    const batches = serviceWith([], [], new Map(), clock);
    await expect(batches.openArchive('short')).rejects.toMatchObject({ code: 'batch_not_found' });
    await expect(batches.openArchive('B'.repeat(43))).rejects.toMatchObject({ code: 'batch_not_found' });
    await expect(batches.openArchive(TOKEN)).resolves.toMatchObject({ name: 'reports.zip' });
    clock.advance(900_000);
    await expect(batches.openArchive(TOKEN)).rejects.toMatchObject({ code: 'batch_not_found' });
  });

  it('the files by id, in the batch order; a deleted record and bytes gone since are left out', async () => {
    const report = fileOf(1, 'docs', 'report.txt');
    const notes = fileOf(2, '', 'notes.txt');
    const deleted = fileOf(3, '', 'deleted.txt');
    const bytesGone = fileOf(4, '', 'gone.txt');
    const batches = serviceWith(
      [report, notes, bytesGone],
      [notes.id, deleted.id, bytesGone.id, report.id],
      new Map([
        [report.key, 'the report'],
        [notes.key, 'some notes'],
      ]),
    );
    const archive = await batches.openArchive(TOKEN);
    expect(archive.name).toBe('reports.zip');
    const file = path.join(work, 'ok.zip');
    await fs.writeFile(file, await collect(archive.job.stream));
    expect((await readZip(file)).map((e) => [e.name, e.data!.toString()])).toEqual([
      ['notes.txt', 'some notes'],
      ['docs/report.txt', 'the report'],
    ]);
    await expect(archive.job.done).resolves.toMatchObject({ entries: 2, skipped: 2, failed: false, error: undefined });
  });

  it('a stored name no entry can carry cuts the archive with UnsafeEntryName, reported by the job', async () => {
    const fine = fileOf(1, '', 'fine.txt');
    const legacy = fileOf(2, '', '..');
    const batches = serviceWith([fine, legacy], [fine.id, legacy.id], new Map([[fine.key, 'ok'], [legacy.key, 'x']]));
    const archive = await batches.openArchive(TOKEN);
    await expect(collect(archive.job.stream)).rejects.toBeInstanceOf(UnsafeEntryName);
    const result = await archive.job.done;
    expect(result).toMatchObject({ entries: 1, failed: true });
    expect(result.error).toBeInstanceOf(UnsafeEntryName);
    expect(result.error).toMatchObject({ code: 'internal_error', entryName: '..' });
    // The name is logged as a property; the message a client could ever see does not carry it.
    expect((result.error as Error).message).not.toContain('..');
  });
});
