/**
 * GET /v1/files/folders and DELETE /v1/files/folder: a folder's direct sub-folders with the
 * count and bytes under each, and the delete of everything under a folder. A folder exists
 * while a file is under it (there are no empty folders: keys hold the folder).
 */
import type { FolderSummary, MetadataStore } from '../db/types.js';
import { noEvents, type EventFactory } from '../events/events.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MoveService } from './move-service.js';

/** Records removed per transaction, and object deletes in flight at once. */
const DELETE_PAGE = 500;
const DELETES_AT_ONCE = 8;

export class FolderService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly moves: Pick<MoveService, 'finishPending'>,
    private readonly events: EventFactory = noEvents,
  ) {}

  async list(userId: string, folder: string): Promise<FolderSummary[]> {
    return this.store.folders.subfolders(userId, folder);
  }

  /**
   * Records first, a page per transaction (readers see 404 at once, quota freed with them),
   * then their bytes; moves journaled for the user are finished first, so no file is half
   * way between this folder and another. Bytes a crash leaves behind no record names: the
   * orphan sweep removes them.
   */
  async delete(userId: string, folder: string): Promise<{ deleted: number; freedBytes: number }> {
    await this.moves.finishPending(userId);
    let deleted = 0;
    let freedBytes = 0;
    for (;;) {
      // One file.deleted per record, written in the transaction that removes its page.
      const page = await this.store.folders.deleteUnder(userId, folder, DELETE_PAGE, (f) => this.events.fileDeleted(f));
      if (page.length === 0) return { deleted, freedBytes };
      deleted += page.length;
      for (const file of page) freedBytes += file.size;
      for (let i = 0; i < page.length; i += DELETES_AT_ONCE) {
        await Promise.all(page.slice(i, i + DELETES_AT_ONCE).map((f) => this.blobs.delete(f.key)));
      }
    }
  }
}
