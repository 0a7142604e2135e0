/**
 * FileService.storeForm (the one-request upload behind POST /v1/files) called directly, with
 * form parts built in the test: the folder field, the name and type rules, the per-request
 * file cap, and all-or-nothing on failure. Errors are asserted by code.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FormPart } from '../../src/files/file-service.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storedBytes } from '../serve/serve-helpers.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ MAX_FILES_PER_REQUEST: '2' });
});
afterAll(async () => s.close());

const field = (fieldname: string, value: unknown): FormPart => ({ type: 'field', fieldname, value });
const file = (filename: string, body: string, mimetype = 'text/plain', fieldname = 'file'): FormPart => ({
  type: 'file',
  fieldname,
  filename,
  mimetype,
  file: Readable.from([Buffer.from(body)]),
});

async function* form(...parts: FormPart[]): AsyncGenerator<FormPart> {
  yield* parts;
}

const storeForm = (userId: string, parts: AsyncIterable<FormPart>, folder?: string) => s.app.ctx.files.storeForm(userId, parts, folder);
const listed = async (userId: string) => (await s.app.ctx.files.list(userId, { recursive: true, limit: 100 })).files.map((f) => f.key);

describe('FileService.storeForm', () => {
  it('stores every file in order; a folder field moves the files after it; types are normalised', async () => {
    const stored = await storeForm(
      'sf-u',
      form(file('root.txt', 'at the root'), field('folder', 'docs/2024'), file('a.txt', 'aaa', 'TEXT/Plain'), field('note', 'ignored')),
    );
    expect(stored.map((f) => [f.folder, f.filename, f.mime, f.size])).toEqual([
      ['', 'root.txt', 'text/plain', 11],
      ['docs/2024', 'a.txt', 'text/plain', 3],
    ]);
    expect((await storedBytes(s, stored[1]!.key))?.toString()).toBe('aaa');
    expect(await listed('sf-u')).toEqual(expect.arrayContaining(stored.map((f) => f.key)));
  });

  it('starts in the folder it is given; an empty folder field means the root; an unusable type becomes octet-stream', async () => {
    const [inQuery, atRoot] = await storeForm('sf-q', form(file('q.txt', 'q', 'not a type\u0000'), field('folder', ''), file('r.txt', 'r')), 'from-query');
    expect(inQuery).toMatchObject({ folder: 'from-query', mime: 'application/octet-stream' });
    expect(atRoot).toMatchObject({ folder: '' });
  });

  it('a bad folder field or file name is validation_error naming the field, and nothing is kept', async () => {
    await expect(storeForm('sf-bad', form(file('ok.txt', 'kept?'), field('folder', '../up')))).rejects.toMatchObject({
      code: 'validation_error',
      message: expect.stringMatching(/^body\.folder: /),
    });
    await expect(storeForm('sf-bad', form(file('ok.txt', 'kept?'), file('a/b', 'x', 'text/plain', 'upload')))).rejects.toMatchObject({
      code: 'validation_error',
      message: expect.stringMatching(/^body\.upload\.filename: /),
    });
    expect(await listed('sf-bad')).toEqual([]);
    expect(await s.app.ctx.files.usage('sf-bad')).toMatchObject({ usedBytes: 0, fileCount: 0 });
  });

  it('one file past MAX_FILES_PER_REQUEST is too_many_files before it is read; the files before it go too', async () => {
    let thirdRead = false;
    const third: FormPart = {
      type: 'file',
      fieldname: 'file',
      filename: 'c.txt',
      mimetype: 'text/plain',
      file: new Readable({
        read() {
          thirdRead = true;
          this.push(null);
        },
      }),
    };
    await expect(storeForm('sf-cap', form(file('a.txt', 'a'), file('b.txt', 'b'), third))).rejects.toMatchObject({ code: 'too_many_files' });
    expect(thirdRead).toBe(false);
    expect(await listed('sf-cap')).toEqual([]);
    expect(await s.app.ctx.files.usage('sf-cap')).toMatchObject({ usedBytes: 0, fileCount: 0 });
  });

  it('a form without a file is validation_error', async () => {
    await expect(storeForm('sf-none', form(field('folder', 'a')))).rejects.toMatchObject({ code: 'validation_error' });
    await expect(storeForm('sf-none', form())).rejects.toMatchObject({ code: 'validation_error' });
  });
});

describe('FileService.storeForm under a small quota', () => {
  let q: TestServer;
  beforeAll(async () => {
    q = await startTestServer({ PER_USER_QUOTA_GB: '0.0000001' }); // 107 bytes
  });
  afterAll(async () => q.close());

  it('a refusal from the store (quota_exceeded) removes the files stored before it, and their bytes', async () => {
    const stored: string[] = [];
    const spy = q.app.ctx.files.storeObject.bind(q.app.ctx.files);
    const files = q.app.ctx.files;
    files.storeObject = async (...args) => {
      const record = await spy(...args);
      stored.push(record.key);
      return record;
    };
    const parts = form(file('a.txt', 'a'.repeat(40)), file('b.txt', 'b'.repeat(80)));
    await expect(files.storeForm('sf-quota', parts)).rejects.toMatchObject({ code: 'quota_exceeded' });
    expect(stored).toHaveLength(1);
    expect(await storedBytes(q, stored[0]!)).toBeNull();
    expect(await files.getByKey(stored[0]!)).toBeNull();
    expect(await files.usage('sf-quota')).toMatchObject({ usedBytes: 0, fileCount: 0 });
  });
});
