/**
 * BatchService.openArchive without HTTP: a token opens the ZIP of its files, by id and in
 * order, leaving out records deleted before the download starts, with the archive's exact
 * length known up front; an entry whose bytes then fail to match its record cuts the archive
 * (EntryMismatch, reported by the job); a stored name no ZIP entry can carry is refused before
 * any byte (UnsafeEntryName).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchRecord, FileRecord, MetadataStore } from '../../src/db/types.js';
import { BlobNotFound, UnsafeEntryName } from '../../src/errors/index.js';
import { BatchService, hashToken } from '../../src/serve/batches.js';
import { EntryMismatch } from '../../src/serve/zip-stored.js';
import { ManualClock } from '../../src/util/clock.js';
import { tempDir } from '../helpers/app.js';
import { readZip, unzipTest } from './serve-helpers.js';

const T0 = 1_800_000_000;
const TOKEN = 'A'.repeat(43);

const fileOf = (n: number, folder: string, filename: string, size = 0): FileRecord => {
  const id = n.toString(16).padStart(32, '0');
  return {
    id,
    key: `storage/u/${folder ? `${folder}/` : ''}${id}_${filename}`,
    userId: 'u',
    folder,
    filename,
    size,
    mime: 'text/plain',
    sha256: 'e'.repeat(64),
    createdAt: new Date(T0 * 1000).toISOString(),
  };
};

/** A batch store holding one token, and sources over maps: the archive reads no disk. */
/** `later`: the records as each entry's turn finds them (default: as at the start). */
function serviceWith(records: FileRecord[], fileIds: string[], bytes: Map<string, string>, clock = new ManualClock(T0 * 1000), later?: Map<string, FileRecord>) {
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
  const byId = new Map(records.map((r) => [r.id, r]));
  // openArchive reads the batch and its records; the other ports are not part of this test.
  const findFilesByIds = async (ids: string[]) => ids.flatMap((id) => byId.get(id) ?? []);
  const store = { batches: { getBatch }, files: { findFilesByIds } } as unknown as MetadataStore;
  const read = async (key: string): Promise<Readable> => {
    const body = bytes.get(key);
    if (body === undefined) throw new BlobNotFound(key);
    return Readable.from([Buffer.from(body)]);
  };
  const limits = { maxFiles: 10, maxBytes: 1e9, ttlSeconds: 900, maxOpen: 5 };
  const atTurn = later ?? byId;
  return new BatchService(store, limits, { lookup: async (id) => atTurn.get(id) ?? null, blobs: { read } }, clock);
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

  it('the files by id, in the batch order; records deleted before the start are left out; the length is exact', async () => {
    const report = fileOf(1, 'docs', 'report.txt', 10);
    const notes = fileOf(2, '', 'notes.txt', 10);
    const deleted = fileOf(3, '', 'deleted.txt', 5);
    const batches = serviceWith(
      [report, notes],
      [notes.id, deleted.id, report.id],
      new Map([
        [report.key, 'the report'],
        [notes.key, 'some notes'],
      ]),
    );
    const archive = await batches.openArchive(TOKEN);
    expect(archive.name).toBe('reports.zip');
    const bytes = await collect(archive.job.stream);
    expect(bytes.length).toBe(archive.job.length);
    const file = path.join(work, 'ok.zip');
    await fs.writeFile(file, bytes);
    expect((await readZip(file)).map((e) => [e.name, e.data!.toString()])).toEqual([
      ['notes.txt', 'some notes'],
      ['docs/report.txt', 'the report'],
    ]);
    await expect(archive.job.done).resolves.toMatchObject({ entries: 2, skipped: 0, failed: false, error: undefined, bytes: archive.job.length });
  });

  // Once the length is announced the body must match it: each of these cuts the archive short.
  // The record at the entry's turn: a moved-meanwhile key stands for bytes that differ.
  const cuts: [string, (f: FileRecord) => FileRecord | undefined, EntryMismatch['reason']][] = [
    ['record deleted after the start', () => undefined, 'deleted'],
    ['record changed size after the start', (f) => ({ ...f, size: 11 }), 'size_changed'],
    ['bytes gone', (f) => ({ ...f, key: `${f.key}-gone` }), 'deleted'],
    ['bytes longer than the record', (f) => ({ ...f, key: `${f.key}-long` }), 'longer'],
    ['bytes shorter than the record', (f) => ({ ...f, key: `${f.key}-short` }), 'shorter'],
  ];
  it.each(cuts)('%s: the stream breaks before the announced length, the job reports EntryMismatch', async (_, change, reason) => {
    const first = fileOf(1, '', 'first.txt', 5);
    const second = fileOf(2, '', 'second.txt', 10);
    const later = new Map([[first.id, first]]);
    const changed = change(second);
    if (changed) later.set(second.id, changed);
    const batches = serviceWith(
      [first, second],
      [first.id, second.id],
      new Map([
        [first.key, 'first'],
        [second.key, '0123456789'],
        [`${second.key}-long`, '0123456789+'],
        [`${second.key}-short`, '012345678'],
      ]),
      undefined,
      later,
    );
    const archive = await batches.openArchive(TOKEN);
    const got: Buffer[] = [];
    const broke = await (async () => {
      try {
        for await (const chunk of archive.job.stream) got.push(chunk as Buffer);
      } catch (err) {
        return err;
      }
    })();
    expect(broke).toBeInstanceOf(EntryMismatch);
    expect(Buffer.concat(got).length).toBeLessThan(archive.job.length!);
    const result = await archive.job.done;
    expect(result).toMatchObject({ failed: true, error: { reason, entry: 'second.txt' } });
  });

  it('a central directory past 64 KiB (1,000 entries): the bytes still match the announced length', async () => {
    // yazl counts ZIP64 end records from a 64 KiB central directory on; they must then be written.
    const records = Array.from({ length: 1000 }, (_, i) => fileOf(i + 1, 'a-folder-name', `entry-${i}.txt`, i % 5 === 0 ? 0 : 3));
    const bytes = new Map(records.map((r, i) => [r.key, i % 5 === 0 ? '' : 'abc']));
    const batches = serviceWith(records, records.map((r) => r.id), bytes);
    const archive = await batches.openArchive(TOKEN);
    const body = await collect(archive.job.stream);
    expect(body.length).toBe(archive.job.length);
    const file = path.join(work, 'thousand.zip');
    await fs.writeFile(file, body);
    expect(await unzipTest(file)).toMatch(/No errors detected/);
    expect(await readZip(file)).toHaveLength(1000);
  });

  it('a stored name no entry can carry is refused before any byte with UnsafeEntryName', async () => {
    const fine = fileOf(1, '', 'fine.txt', 2);
    const legacy = fileOf(2, '', '..', 1);
    const batches = serviceWith([fine, legacy], [fine.id, legacy.id], new Map([[fine.key, 'ok'], [legacy.key, 'x']]));
    const refused = await batches.openArchive(TOKEN).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UnsafeEntryName);
    expect(refused).toMatchObject({ code: 'internal_error', entryName: '..' });
    // The name is logged as a property; the message a client could ever see does not carry it.
    expect((refused as Error).message).not.toContain('..');
  });
});
