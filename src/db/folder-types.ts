/**
 * The FolderStore port (store.folders): folder summaries, folder deletes and the journal of
 * file moves in progress (src/files/move-service.ts says why a move is journaled). Both
 * engines implement it (sqlite-folders.ts, pg/folders.ts); test/db/folder-conformance.ts.
 */
import type { OutboxEvent } from './outbox-types.js';
import type { FileRecord } from './types.js';

/**
 * Builds the event of one record a folder write changes, inside that write's transaction: the
 * record is known only there (the switched row, a deleted page), so the caller passes how to
 * build it, not the event. Called only for a record the write changed.
 */
export type EventOf = (file: FileRecord) => OutboxEvent | undefined;

/** A direct sub-folder: `fileCount` and `totalSize` count everything under it, at any depth. */
export interface FolderSummary {
  /** Its last segment. */
  name: string;
  /** Its full path (no leading or trailing slash). */
  path: string;
  fileCount: number;
  totalSize: number;
}

/** One file move in progress: written before the bytes move, removed once `fromKey` is gone. */
export interface PendingMove {
  fileId: string;
  userId: string;
  fromKey: string;
  toKey: string;
  /** Unix ms. */
  createdAt: number;
}

/** Where a move leaves the record: the new key, and the folder and filename it holds. */
export interface MoveTarget {
  toKey: string;
  folder: string;
  filename: string;
}

export interface FolderStore {
  /** The direct sub-folders of `parent` ('' for the root), by name, with totals over each subtree. */
  subfolders(userId: string, parent: string): Promise<FolderSummary[]>;
  /** The user's files in exactly `folder` called `filename` (any id): a move's clash check. */
  filesNamed(userId: string, folder: string, filename: string): Promise<FileRecord[]>;
  /** A page of the files in `folder` and below ('' for all), in key order after `afterKey`. */
  filesUnder(userId: string, folder: string, afterKey: string | null, limit: number): Promise<FileRecord[]>;
  /**
   * Journals a move of the file whose record is at `move.fromKey`, in one statement that
   * checks that. 'journaled' (also when the same move was journaled before), 'busy' when
   * the file has another move in progress, 'gone' when no record is at `fromKey`.
   */
  journalMove(move: PendingMove): Promise<'journaled' | 'busy' | 'gone'>;
  /**
   * The record moves from `fromKey` to `target` in one transaction (id, sha256, size and
   * created_at kept). 'switched', 'already' when it is at `target.toKey`, 'gone' otherwise.
   * `event` (file.moved) is written in that transaction, only when it switched.
   */
  switchMove(fileId: string, fromKey: string, target: MoveTarget, event?: EventOf): Promise<{ outcome: 'switched' | 'already'; file: FileRecord } | { outcome: 'gone' }>;
  /** Drops the journal row of a finished (or abandoned) move. */
  endMove(fileId: string): Promise<void>;
  /** The user's moves in progress, oldest first (at most `limit`). */
  pendingMoves(userId: string, limit: number): Promise<PendingMove[]>;
  /** The moves in progress of these files (the orphan sweep spares both of their keys). */
  movesOf(fileIds: string[]): Promise<PendingMove[]>;
  /**
   * Removes up to `limit` records in `folder` and below (never the root: '' is refused by the
   * service) with their quota, in one transaction; returns them (none left: empty).
   * `event` (file.deleted) is written for each of them in that transaction.
   */
  deleteUnder(userId: string, folder: string, limit: number, event?: EventOf): Promise<FileRecord[]>;
}

/** The key range of everything in `folder` and below: `storage/{user}/{folder}/…`. */
export function keyRangeOf(userId: string, folder: string): { lo: string; hi: string } {
  const prefix = folder ? `storage/${userId}/${folder}/` : `storage/${userId}/`;
  // '0' follows '/' in byte order: [prefix, prefix without its '/' + '0') is exactly the prefix.
  return { lo: prefix, hi: prefix.slice(0, -1) + '0' };
}

/** The folder range below `parent`: [parent + '/', parent + '0'), or every non-root folder. */
export function subfolderRangeOf(parent: string): { lo: string; hi: string | null } {
  return parent ? { lo: parent + '/', hi: parent + '0' } : { lo: '', hi: null };
}

/** Groups (folder, count, bytes) rows into the direct sub-folders of `parent`. */
export function groupSubfolders(parent: string, rows: { folder: string; n: number; bytes: number }[]): FolderSummary[] {
  const byName = new Map<string, FolderSummary>();
  const skip = parent ? parent.length + 1 : 0;
  for (const row of rows) {
    if (row.folder === '' || row.folder === parent) continue;
    const name = row.folder.slice(skip).split('/')[0]!;
    const path = parent ? `${parent}/${name}` : name;
    const s = byName.get(name) ?? { name, path, fileCount: 0, totalSize: 0 };
    s.fileCount += Number(row.n);
    s.totalSize += Number(row.bytes);
    byName.set(name, s);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
