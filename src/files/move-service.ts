/**
 * POST /v1/files/move: a file to a new name or folder, or a folder (everything under it) to a
 * new path. The key holds the folder and name, so a move changes the key; the record keeps
 * its id, sha256, size and created_at, and quota is untouched.
 *
 * One file's move, and why a crash anywhere leaves the file readable under exactly one key:
 *   1. journal   a file_moves row (file id, old key, new key), written only while the record
 *                is at the old key (FolderStore.journalMove, one conditional statement);
 *   2. place     the bytes become readable at the new key too (BlobStore.move: a hard link on
 *                disk, a new alias or a server-side copy on S3), the old key untouched;
 *   3. switch    the record moves to the new key in one transaction (switchMove);
 *   4. drop      the old key's object goes, then the journal row.
 * Readers find a file through its record, and at every point the record's key holds the
 * bytes: before 3 the old key (never touched before 4), from 3 on the new one (placed in 2).
 * The other key may hold a second name for the same bytes meanwhile; no record names it, and
 * the orphan sweep spares both keys of a journaled move (upload-housekeeping.ts), so nothing
 * removes bytes a record is about to name. Each step can run again: the next move request of
 * that user (and a folder delete) first finishes every journaled move (`finishPending`), with
 * commit answering "already" for a record switched before the crash. A rename on disk would
 * be one step fewer, but between the rename and the switch the record would name a key with
 * no bytes; link + unlink never has that moment. Step 2 waits while the upload the file came
 * from is being closed (close-lease.ts: on S3 the two must not interleave); a close still
 * running after a few seconds → 409 complete_in_progress, the journal row dropped, nothing moved.
 *
 * A folder move checks every file's target first (a name taken there → 409, nothing moved),
 * then moves file by file; re-sending the same request after a crash finishes journaled
 * moves and moves what is still under the old folder.
 */
import type { Principal } from '../auth/principal.js';
import type { FileRecord, MetadataStore, PendingMove } from '../db/types.js';
import { BlobNotFound, FileNotFound, InvalidInput, WrongState } from '../errors/index.js';
import { noEvents, type EventFactory } from '../events/events.js';
import type { BlobStore } from '../storage/blob-store.js';
import { systemClock, type Clock } from '../util/clock.js';
import { closesDone } from './close-lease.js';
import { mayAccess } from './file-service.js';
import { buildKey, parseKey } from './keys.js';
import { filenameSchema, folderProblem, folderSchema } from './names.js';

export interface MovedKey {
  from: string;
  to: string;
}

/** Where observers hear of a switched record (webhooks do not: file.moved is written by the switch). */
export interface MoveHooks {
  /** Called once per file, right after its record switched to the new key (step 3). */
  moved?(file: FileRecord, fromKey: string): Promise<void> | void;
}

/** Files read per page, and clash checks in flight at once. */
const PAGE = 500;
const CHECKS_AT_ONCE = 16;
/** Journaled moves finished before a request's own work, per round. */
const PENDING_PAGE = 100;

function parseTarget(to: string, filename: string): { folder: string; filename: string } {
  const bad = (why: string): never => {
    throw new InvalidInput('validation_error', `body.to: ${why}`);
  };
  if (to === '' || to.endsWith('/')) {
    const folder = to.slice(0, -1);
    if (folder && !folderSchema.safeParse(folder).success) bad(`folder ${folderProblem(folder)}`);
    return { folder, filename };
  }
  const cut = to.lastIndexOf('/');
  const folder = cut < 0 ? '' : to.slice(0, cut);
  const name = to.slice(cut + 1);
  if (folder && !folderSchema.safeParse(folder).success) bad(`folder ${folderProblem(folder)}`);
  const parsed = filenameSchema.safeParse(name);
  if (!parsed.success) bad(`filename ${parsed.error.issues[0]!.message}`);
  return { folder, filename: name };
}

const clashError = (names: string[]): WrongState =>
  new WrongState('name_clash', `The target folder already holds a file of the same name: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}; nothing was moved`);

export class MoveService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly clock: Clock = systemClock,
    private readonly hooks: MoveHooks = {},
    private readonly events: EventFactory = noEvents,
  ) {}

  /** One file (`fromKey`) to `to`: "folder/" or "" moves it under its name, else "folder/name". */
  async moveFile(principal: Principal, fromKey: string, to: string): Promise<MovedKey[]> {
    const parts = parseKey(fromKey);
    if (!mayAccess(principal, parts.userId)) throw new FileNotFound();
    const target = parseTarget(to, parts.filename);
    const finished = await this.finishPending(parts.userId);
    const file = await this.store.files.getFile(fromKey);
    if (!file) {
      // Re-sent after a crash: the journaled move just finished is this request's answer.
      const done = finished.find((m) => m.from === fromKey);
      if (done) return [done];
      throw new FileNotFound();
    }
    if (target.folder === file.folder && target.filename === file.filename) return [];
    const taken = (await this.store.folders.filesNamed(file.userId, target.folder, target.filename)).filter((f) => f.id !== file.id);
    if (taken.length > 0) throw clashError([target.folder ? `${target.folder}/${target.filename}` : target.filename]);
    const toKey = buildKey({ userId: file.userId, folder: target.folder, id: file.id, filename: target.filename });
    if (!(await this.moveOne(file, toKey))) throw new FileNotFound();
    return [{ from: fromKey, to: toKey }];
  }

  /** Everything under `from` (a folder path) to the same relative path under `to` ('' is the root). */
  async moveFolder(userId: string, from: string, to: string): Promise<MovedKey[]> {
    if (to === from || to.startsWith(from + '/')) throw new InvalidInput('invalid_move', 'A folder cannot move into itself or below itself');
    const under = (folder: string) => folder === from || folder.startsWith(from + '/');
    const moved = (await this.finishPending(userId)).filter((m) => under(parseKey(m.from).folder));
    const files: FileRecord[] = [];
    for (let after: string | null = null; ; ) {
      const page = await this.store.folders.filesUnder(userId, from, after, PAGE);
      files.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.key;
    }
    const plan = files.map((file) => {
      const folder = to + file.folder.slice(from.length);
      const target = to ? folder : folder.slice(1);
      const problem = target ? folderProblem(target) : null;
      if (problem) throw new InvalidInput('invalid_move', `${file.key} cannot move to folder ${target}: it ${problem}`);
      return { file, folder: target, toKey: buildKey({ userId, folder: target, id: file.id, filename: file.filename }) };
    });
    await this.checkClashes(userId, plan);
    for (const step of plan) if (await this.moveOne(step.file, step.toKey)) moved.push({ from: step.file.key, to: step.toKey });
    return moved;
  }

  /** 409 before anything moves when a target folder already holds a file of the same name. */
  private async checkClashes(userId: string, plan: { file: FileRecord; folder: string }[]): Promise<void> {
    const moving = new Set(plan.map((p) => p.file.id));
    const clashes: string[] = [];
    for (let i = 0; i < plan.length; i += CHECKS_AT_ONCE) {
      await Promise.all(
        plan.slice(i, i + CHECKS_AT_ONCE).map(async ({ file, folder }) => {
          const taken = await this.store.folders.filesNamed(userId, folder, file.filename);
          if (taken.some((f) => !moving.has(f.id))) clashes.push(folder ? `${folder}/${file.filename}` : file.filename);
        }),
      );
    }
    if (clashes.length > 0) throw clashError(clashes.sort());
  }

  /** Journals and finishes one file's move; false when its record went meanwhile. */
  private async moveOne(file: FileRecord, toKey: string): Promise<boolean> {
    const move: PendingMove = { fileId: file.id, userId: file.userId, fromKey: file.key, toKey, createdAt: this.clock.now() };
    let outcome = await this.store.folders.journalMove(move);
    if (outcome === 'busy') {
      // Another move of this file was journaled (a request racing this one): finish it first.
      for (const other of await this.store.folders.movesOf([file.id])) await this.finish(other);
      outcome = await this.store.folders.journalMove(move);
    }
    if (outcome !== 'journaled') return false;
    return this.finish(move, true);
  }

  /**
   * Steps 2–4 of a journaled move; each may have run before (a crash). False: no record any
   * more. Not before the close of the file's upload is over (close-lease.ts): on S3 the two
   * must not interleave. A close that goes on too long → 409; the journal row goes too when
   * this request wrote it (`own`): nothing was placed yet, so nothing moved.
   */
  private async finish(move: PendingMove, own = false): Promise<boolean> {
    try {
      await closesDone(this.store.leases, this.clock, move.fileId);
    } catch (err) {
      if (own) await this.store.folders.endMove(move.fileId);
      throw err;
    }
    const target = parseKey(move.toKey);
    const source = parseKey(move.fromKey);
    // file.moved goes in the switch's transaction, and only when this call switched the
    // record: a re-run answering 'already' (a crash after the switch) writes no second event.
    const event = (to: FileRecord) => this.events.fileMoved({ ...to, key: move.fromKey, folder: source.folder, filename: source.filename }, to);
    const commit = async (): Promise<boolean> => {
      const r = await this.store.folders.switchMove(move.fileId, move.fromKey, { toKey: move.toKey, folder: target.folder, filename: target.filename }, event);
      if (r.outcome === 'switched') await this.hooks.moved?.(r.file, move.fromKey);
      return r.outcome !== 'gone';
    };
    let done: boolean;
    try {
      done = await this.blobs.move(move.fromKey, move.toKey, commit);
    } catch (err) {
      // No bytes under either key: only a file deleted meanwhile (its bytes went with it) ends here.
      if (!(err instanceof BlobNotFound) || (await this.store.files.getFileById(move.fileId)) !== null) throw err;
      done = false;
    }
    await this.store.folders.endMove(move.fileId);
    return done;
  }

  /** Finishes every journaled move of the user (left by a crash, or by a request still running). */
  async finishPending(userId: string): Promise<MovedKey[]> {
    const finished: MovedKey[] = [];
    const seen = new Set<string>();
    for (;;) {
      const page = (await this.store.folders.pendingMoves(userId, PENDING_PAGE)).filter((m) => !seen.has(m.fileId));
      if (page.length === 0) return finished;
      for (const move of page) {
        seen.add(move.fileId);
        if (await this.finish(move)) finished.push({ from: move.fromKey, to: move.toKey });
      }
    }
  }
}
