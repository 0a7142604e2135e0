/**
 * POST /v1/files/move on the configured store (default: disk; the s3 project: S3; the
 * postgres projects: PostgreSQL records): a file renamed or moved keeps its id, sha256,
 * created_at and quota, its bytes readable only under the new key (old signed URLs stop
 * working); a folder moves with its sub-folders; a name taken in the target → 409 with
 * nothing moved; a move interrupted between its steps is readable under exactly one key and
 * finished by the same request (the orphan sweep meanwhile sparing both keys). Chunked uploads (an alias on S3) and one-request uploads
 * (a whole object) both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/db/types.js';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { storedBytes, storeFile, storageUrl } from '../serve/serve-helpers.js';
import { bytes, sha256, uploadFile, usage } from './upload-kit.js';

describe('POST /v1/files/move', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => s.close());

  const move = (body: Record<string, unknown>, token?: string) =>
    token ? s.asBearer(token, { method: 'POST', url: '/v1/files/move', payload: body }) : s.asService({ method: 'POST', url: '/v1/files/move', payload: body });
  const meta = (key: string) => s.asService({ method: 'GET', url: `/v1/files/metadata/${key.split('/').map(encodeURIComponent).join('/')}` });
  /** A user's keys, sorted (the listing, through the API). */
  const keysOf = async (user: string) => ((await s.asService({ method: 'GET', url: `/v1/files/all?user_id=${user}` })).json().files as { key: string }[]).map((f) => f.key).sort();
  /** The bytes served for a key (GET /storage/… as the service), or the status when not 200. */
  const served = async (key: string) => {
    const res = await s.asService({ method: 'GET', url: storageUrl(key) });
    return res.statusCode === 200 ? res.rawPayload : res.statusCode;
  };

  it('renames and moves one file (chunked and one-request): id, sha256, created_at and quota kept; bytes only under the new key', async () => {
    const a = bytes(70_000);
    const b = bytes(1234);
    const chunked = await uploadFile(s, 'mv-1', 'report.pdf', a, 'inbox');
    const whole = await storeFile(s, 'mv-1', 'notes 字.txt', b, { folder: 'inbox' });
    const before = await usage(s, 'mv-1');

    const renamed = await move({ from: chunked.key, to: 'inbox/final report.pdf' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const newKey = `storage/mv-1/inbox/${(chunked as { key: string }).key.split('/').pop()!.slice(0, 32)}_final report.pdf`;
    expect(renamed.json()).toEqual({ moved: [{ from: chunked.key, to: newKey }] });
    const rec = (await meta(newKey)).json();
    expect(rec).toMatchObject({ key: newKey, filename: 'final report.pdf', folder: 'inbox', sha256: sha256(a), size: a.length, created_at: chunked.created_at });
    expect((await meta(chunked.key)).statusCode).toBe(404);
    expect(await served(chunked.key)).toBe(404);
    expect((await served(newKey)) as Buffer).toEqual(a);

    // Into a folder under its own name, then to the root.
    const into = (await move({ from: whole.key, to: 'archive/2024/' })).json().moved[0].to as string;
    expect(into).toBe(`storage/mv-1/archive/2024/${whole.id}_notes 字.txt`);
    const root = (await move({ from: into, to: '' })).json().moved[0].to as string;
    expect(root).toBe(`storage/mv-1/${whole.id}_notes 字.txt`);
    expect((await storedBytes(s, root))!.equals(b)).toBe(true);
    expect(await storedBytes(s, whole.key)).toBeNull();
    expect(await storedBytes(s, into)).toBeNull();
    expect((await meta(root)).json()).toMatchObject({ folder: null, sha256: sha256(b), created_at: whole.createdAt });
    expect(await usage(s, 'mv-1')).toEqual(before);
    expect(await keysOf('mv-1')).toEqual([newKey, root].sort());
    // To where it already is: nothing to do.
    expect((await move({ from: root, to: '' })).json()).toEqual({ moved: [] });
  });

  it('an old signed URL stops working once the file moved; a new one works', async () => {
    const f = await storeFile(s, 'mv-2', 'a.txt', 'signed');
    const signed = (await s.asService({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(f.key)}` })).json().url as string;
    const path = new URL(signed).pathname + new URL(signed).search;
    expect((await s.app.inject({ method: 'GET', url: path })).body).toBe('signed');
    const to = (await move({ from: f.key, to: 'b.txt' })).json().moved[0].to as string;
    expect((await s.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
    const again = (await s.asService({ method: 'GET', url: `/v1/files/signed-url?key=${encodeURIComponent(to)}` })).json().url as string;
    expect((await s.app.inject({ method: 'GET', url: new URL(again).pathname + new URL(again).search })).body).toBe('signed');
  });

  it('moves a folder with its sub-folders to a new path (same relative paths); re-sending the request finds nothing left to move', async () => {
    const files: FileRecord[] = [];
    for (const [folder, name] of [['trips', 'a.jpg'], ['trips/2024', 'b.jpg'], ['trips/2024/x', 'c.jpg'], ['trips-old', 'd.jpg'], ['', 'e.jpg']] as const) {
      files.push(await storeFile(s, 'mv-3', name, `${folder}/${name}`, { folder }));
    }
    const chunked = await uploadFile(s, 'mv-3', 'f.bin', bytes(100), 'trips/2024');
    const res = await move({ from: 'trips', to: 'photos/travel', user_id: 'mv-3' });
    expect(res.statusCode, res.body).toBe(200);
    const moved = res.json().moved as { from: string; to: string }[];
    expect(moved.map((m) => m.to).sort()).toEqual(
      [
        `storage/mv-3/photos/travel/${files[0]!.id}_a.jpg`,
        `storage/mv-3/photos/travel/2024/${files[1]!.id}_b.jpg`,
        `storage/mv-3/photos/travel/2024/x/${files[2]!.id}_c.jpg`,
        `storage/mv-3/photos/travel/2024/${chunked.key.split('/').pop()}`,
      ].sort(),
    );
    for (const m of moved) expect(await storedBytes(s, m.from)).toBeNull();
    expect((await storedBytes(s, `storage/mv-3/photos/travel/2024/x/${files[2]!.id}_c.jpg`))!.toString()).toBe('trips/2024/x/c.jpg');
    // 'trips-old' and the root file stay where they were.
    expect(await keysOf('mv-3')).toContain(files[3]!.key);
    expect(await keysOf('mv-3')).toContain(files[4]!.key);
    expect((await move({ from: 'trips', to: 'photos/travel', user_id: 'mv-3' })).json()).toEqual({ moved: [] });
    // A folder to the root: its contents keep their relative paths there.
    const up = await move({ from: 'photos/travel/2024', to: '', user_id: 'mv-3' });
    expect((up.json().moved as { to: string }[]).map((m) => m.to)).toContain(`storage/mv-3/x/${files[2]!.id}_c.jpg`);
  });

  it('a name taken in the target folder → 409 name_clash and nothing moved (file and folder moves)', async () => {
    const taken = await storeFile(s, 'mv-4', 'same.txt', 'there', { folder: 'dst' });
    const one = await storeFile(s, 'mv-4', 'same.txt', 'here', { folder: 'src' });
    const other = await storeFile(s, 'mv-4', 'other.txt', 'o', { folder: 'src' });
    const before = await keysOf('mv-4');
    const single = await move({ from: one.key, to: 'dst/' });
    expect(single.statusCode).toBe(409);
    expect(single.json()).toMatchObject({ code: 'name_clash' });
    expect((await move({ from: other.key, to: 'dst/same.txt' })).statusCode).toBe(409);
    const folder = await move({ from: 'src', to: 'dst', user_id: 'mv-4' });
    expect(folder.statusCode).toBe(409);
    expect(folder.json().message).toContain('dst/same.txt');
    expect(await keysOf('mv-4')).toEqual(before);
    expect((await storedBytes(s, taken.key))!.toString()).toBe('there');
    expect((await storedBytes(s, one.key))!.toString()).toBe('here');
  });

  it('refuses what is not a move: a folder into itself, bad names, another user\'s file, a viewer', async () => {
    const f = await storeFile(s, 'mv-5', 'x.txt', 'x', { folder: 'a' });
    expect((await move({ from: 'a', to: 'a/b', user_id: 'mv-5' })).json()).toMatchObject({ code: 'invalid_move' });
    expect((await move({ from: 'a', to: 'a', user_id: 'mv-5' })).statusCode).toBe(400);
    expect((await move({ from: 'a//b', to: 'c', user_id: 'mv-5' })).json()).toMatchObject({ code: 'invalid_move' });
    expect((await move({ from: 'a', to: '/c', user_id: 'mv-5' })).statusCode).toBe(400);
    expect((await move({ from: f.key, to: 'b/..' })).statusCode).toBe(400);
    expect((await move({ from: 'storage/mv-5/a/nope', to: 'b/' })).json()).toMatchObject({ code: 'invalid_key' });
    expect((await move({ from: 'a', to: 'b' })).json()).toMatchObject({ code: 'user_id_required' });
    const stranger = await s.tokenFor('mv-other');
    expect((await move({ from: f.key, to: 'mine.txt' }, stranger)).statusCode).toBe(404);
    expect((await move({ from: 'a', to: 'b', user_id: 'mv-5' }, stranger)).statusCode).toBe(403);
    const viewer = await s.tokenFor('mv-5', { role: 'viewer' });
    expect((await move({ from: f.key, to: 'y.txt' }, viewer)).statusCode).toBe(403);
    const owner = await s.tokenFor('mv-5');
    expect((await move({ from: f.key, to: 'y.txt' }, owner)).statusCode).toBe(200);
  });

  it('a move interrupted before its record switched reads under the old key; after, under the new one; the same request finishes either', async () => {
    const { store, blobs } = s.app.ctx;
    const crash = () => Promise.reject(new Error('killed'));
    for (const [i, stage] of (['before switch', 'after switch'] as const).entries()) {
      const data = bytes(5000 + i);
      const f = await uploadFile(s, 'mv-6', `c${i}.bin`, data, 'from');
      const id = f.key.split('/').pop()!.slice(0, 32);
      const toKey = `storage/mv-6/to/${id}_c${i}.bin`;
      expect(await store.folders.journalMove({ fileId: id, userId: 'mv-6', fromKey: f.key, toKey, createdAt: Date.now() })).toBe('journaled');
      const commit =
        stage === 'before switch'
          ? crash
          : async () => {
              await store.folders.switchMove(id, f.key, { toKey, folder: 'to', filename: `c${i}.bin` });
              return crash();
            };
      await expect(blobs.move(f.key, toKey, commit)).rejects.toThrow('killed');
      // Readable under exactly the key its record names.
      const [readable, gone] = stage === 'before switch' ? [f.key, toKey] : [toKey, f.key];
      expect((await served(readable)) as Buffer, stage).toEqual(data);
      expect(await served(gone), stage).toBe(404);
      // The orphan sweep of a restart an hour later spares both keys of the journaled move (on
      // S3, deleting the unnamed old alias would take the completed upload both aliases name).
      await s.app.ctx.uploads.reconcile(Date.now() + 2 * 3600_000);
      expect((await served(readable)) as Buffer, `${stage}, after the orphan sweep`).toEqual(data);
      const res = await move({ from: f.key, to: 'to/' });
      expect(res.statusCode, stage).toBe(200);
      expect(res.json(), stage).toEqual({ moved: [{ from: f.key, to: toKey }] });
      expect((await served(toKey)) as Buffer, stage).toEqual(data);
      expect(await storedBytes(s, f.key), stage).toBeNull();
      expect(await store.folders.pendingMoves('mv-6', 10), stage).toEqual([]);
    }
    expect(await usage(s, 'mv-6')).toMatchObject({ fileCount: 2, usedBytes: 10_001 });
  });
});
