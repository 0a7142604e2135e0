/**
 * The FolderStore contract (store.folders): sub-folder totals, files by name and under a
 * folder, the move journal's conditional writes, and folder deletes with their quota. Part
 * of metadataConformance, so it runs on SQLite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import type { FileRecord, MetadataStore, OutboxEvent } from '../../src/db/types.js';
import { fileOf } from './fixtures.js';

const QUOTA = { userId: 'fu', defaultQuotaBytes: 1e12 };

async function put(store: MetadataStore, folder: string, size: number, user = 'fu'): Promise<FileRecord> {
  const f = fileOf(user, folder, size);
  await store.files.insertFile(f, { ...QUOTA, userId: user });
  return f;
}

const moved = (f: FileRecord, folder: string) => {
  const toKey = ['storage', f.userId, ...(folder ? [folder] : []), `${f.id}_${f.filename}`].join('/');
  return { toKey, folder, filename: f.filename };
};

/** An event builder that records what it was asked for (the store calls it in its transaction). */
function eventsOf(type: string) {
  const built: FileRecord[] = [];
  const build = (f: FileRecord): OutboxEvent => {
    built.push(f);
    return { id: `msg_${type}_${f.id}`, type, userId: f.userId, createdAt: 1000, payload: JSON.stringify({ key: f.key }), urls: ['http://hook.example/a'] };
  };
  return { built, build };
}

export function folderConformance(store: () => MetadataStore): void {
  describe('folders', () => {
    it('subfolders: direct children of a folder with totals over each subtree, by name; not the folder itself, not siblings', async () => {
      const s = store();
      await put(s, '', 1);
      await put(s, 'a', 10);
      await put(s, 'a/x', 100);
      await put(s, 'a/x/deep', 1000);
      await put(s, 'a/y', 5);
      await put(s, 'a-old', 7); // sorts between 'a' and 'a/…' in neither range
      await put(s, 'b', 3, 'other'); // another user's
      expect(await s.folders.subfolders('fu', '')).toEqual([
        { name: 'a', path: 'a', fileCount: 4, totalSize: 1115 },
        { name: 'a-old', path: 'a-old', fileCount: 1, totalSize: 7 },
      ]);
      expect(await s.folders.subfolders('fu', 'a')).toEqual([
        { name: 'x', path: 'a/x', fileCount: 2, totalSize: 1100 },
        { name: 'y', path: 'a/y', fileCount: 1, totalSize: 5 },
      ]);
      expect(await s.folders.subfolders('fu', 'a/x/deep')).toEqual([]);
      expect(await s.folders.subfolders('fu', 'nothing')).toEqual([]);
    });

    it('filesNamed and filesUnder (key order, pages, the folder and below only)', async () => {
      const s = store();
      const a = await put(s, 'a', 1);
      const ax = await put(s, 'a/x', 2);
      await put(s, 'a-old', 3);
      await put(s, '', 4);
      expect((await s.folders.filesNamed('fu', 'a', a.filename)).map((f) => f.id)).toEqual([a.id]);
      expect(await s.folders.filesNamed('fu', 'a/x', a.filename)).toEqual([]);
      const all = [a, ax].map((f) => f.key).sort();
      const first = await s.folders.filesUnder('fu', 'a', null, 1);
      const second = await s.folders.filesUnder('fu', 'a', first[0]!.key, 5);
      expect([...first, ...second].map((f) => f.key)).toEqual(all);
      expect((await s.folders.filesUnder('fu', '', null, 10)).length).toBe(4);
    });

    it('the move journal: journaled once per file, busy for another move, gone when the record is elsewhere; switch keeps id, sha256, created_at', async () => {
      const s = store();
      const f = await put(s, 'a', 9);
      const t = moved(f, 'b/c');
      const move = { fileId: f.id, userId: 'fu', fromKey: f.key, toKey: t.toKey, createdAt: 1000 };
      expect(await s.folders.journalMove(move)).toBe('journaled');
      expect(await s.folders.journalMove(move)).toBe('journaled'); // the same move again
      expect(await s.folders.journalMove({ ...move, toKey: moved(f, 'z').toKey })).toBe('busy');
      expect(await s.folders.pendingMoves('fu', 10)).toEqual([move]);
      expect(await s.folders.movesOf([f.id, 'f'.repeat(32)])).toEqual([move]);

      const switched = await s.folders.switchMove(f.id, f.key, t);
      expect(switched).toEqual({ outcome: 'switched', file: { ...f, key: t.toKey, folder: 'b/c' } });
      expect(await s.folders.switchMove(f.id, f.key, t)).toMatchObject({ outcome: 'already' });
      expect(await s.files.getFile(f.key)).toBeNull();
      expect(await s.files.getFile(t.toKey)).toEqual({ ...f, key: t.toKey, folder: 'b/c' });
      expect(await s.files.usage('fu')).toMatchObject({ fileCount: 1, usedBytes: 9 }); // quota unchanged

      await s.folders.endMove(f.id);
      expect(await s.folders.pendingMoves('fu', 10)).toEqual([]);
      // The record is no longer at the old key: a move from there journals nothing.
      expect(await s.folders.journalMove(move)).toBe('gone');
      expect(await s.folders.switchMove(f.id, f.key, moved(f, 'q'))).toEqual({ outcome: 'gone' });
    });

    it('events: file.moved with the switch only when it switched (not on already or gone); file.deleted per record deleteUnder removes', async () => {
      const s = store();
      const f = await put(s, 'a', 9, 'fe');
      const t = moved(f, 'b');
      const moves = eventsOf('file.moved');
      expect(await s.folders.switchMove(f.id, f.key, t, moves.build)).toMatchObject({ outcome: 'switched' });
      expect(await s.folders.switchMove(f.id, f.key, t, moves.build)).toMatchObject({ outcome: 'already' });
      expect(await s.folders.switchMove(f.id, f.key, moved(f, 'q'), moves.build)).toEqual({ outcome: 'gone' });
      expect(moves.built).toEqual([{ ...f, key: t.toKey, folder: 'b' }]); // the record as switched

      const keep = await put(s, 'b-old', 3, 'fe');
      await put(s, 'b/x', 1, 'fe');
      await put(s, 'b', 2, 'fe');
      const deletes = eventsOf('file.deleted');
      const removed = [...(await s.folders.deleteUnder('fe', 'b', 2, deletes.build)), ...(await s.folders.deleteUnder('fe', 'b', 2, deletes.build))];
      expect(removed.length).toBe(3); // the moved file and the two put under b
      expect(deletes.built.map((x) => x.id).sort()).toEqual(removed.map((x) => x.id).sort());
      expect(deletes.built.some((x) => x.id === keep.id)).toBe(false);
      // Committed with the change, in key order within each page (a user's queue is ordered).
      const rows = (await s.outbox.list({ limit: 100 })).filter((d) => d.userId === 'fe').reverse();
      const pages = [removed.slice(0, 2), removed.slice(2)].flatMap((p) => [...p].sort((x, y) => (x.key < y.key ? -1 : 1)));
      expect(rows.map((d) => d.eventId)).toEqual([`msg_file.moved_${f.id}`, ...pages.map((x) => `msg_file.deleted_${x.id}`)]);
    });

    it('deleteUnder removes a page of records in the folder and below, with their quota; nothing else', async () => {
      const s = store();
      await put(s, 'a', 10);
      await put(s, 'a/x', 20);
      await put(s, 'a/x', 30);
      const keep = [await put(s, 'a-old', 40), await put(s, '', 50)];
      const first = await s.folders.deleteUnder('fu', 'a', 2);
      const rest = await s.folders.deleteUnder('fu', 'a', 2);
      expect(first.length).toBe(2);
      expect(rest.length).toBe(1);
      expect([...first, ...rest].reduce((n, f) => n + f.size, 0)).toBe(60);
      expect(await s.folders.deleteUnder('fu', 'a', 2)).toEqual([]);
      expect(await s.files.usage('fu')).toMatchObject({ fileCount: 2, usedBytes: 90 });
      for (const f of keep) expect(await s.files.getFile(f.key)).not.toBeNull();
    });
  });
}
