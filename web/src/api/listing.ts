/**
 * One folder's files for the list view: pages of 2,000 by cursor, newest first as the server
 * gives them, kept in one array the virtualised list reads by index. Sorting by name or size
 * and filtering by name need every file of the folder, so asking for them loads the
 * remaining pages in the background (a 100,000-file folder is 50 requests) while the view
 * shows what is there so far.
 */
import type { FileRecord } from '../../../src/client/index.js';
import { client } from './session.js';

export type SortKey = 'date' | 'name' | 'size';
export type SortDir = 'asc' | 'desc';

const PAGE = 2_000;

export class FolderListing {
  /** Files in the order the server gave them (newest first). */
  private loaded: FileRecord[] = [];
  private cursor: string | null | undefined = undefined;
  private loading: Promise<void> | undefined;
  private view: FileRecord[] | undefined;
  private readonly ctl = new AbortController();
  totalCount = 0;
  totalSize = 0;
  error: unknown;
  sort: SortKey = 'date';
  dir: SortDir = 'desc';
  filter = '';

  constructor(
    readonly folder: string,
    private readonly onChange: () => void,
  ) {}

  get done(): boolean {
    return this.cursor === null;
  }

  get loadedCount(): number {
    return this.loaded.length;
  }

  /** Sorting other than newest first, or a filter, needs the whole folder. */
  private get needsAll(): boolean {
    return this.sort !== 'date' || this.dir !== 'desc' || this.filter.trim() !== '';
  }

  /** Rows the list shows: all of them when the order is the server's, else the loaded ones sorted. */
  get rowCount(): number {
    return this.needsAll ? this.rows().length : Math.max(this.totalCount, this.loaded.length);
  }

  /** The file at a row, or undefined while its page is not here yet. */
  at(i: number): FileRecord | undefined {
    return this.rows()[i];
  }

  rows(): FileRecord[] {
    if (!this.needsAll) return this.loaded;
    if (this.view) return this.view;
    const needle = this.filter.trim().toLowerCase();
    const rows = needle ? this.loaded.filter((f) => f.filename.toLowerCase().includes(needle)) : this.loaded.slice();
    const sign = this.dir === 'asc' ? 1 : -1;
    if (this.sort === 'name') {
      const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
      rows.sort((a, b) => sign * collator.compare(a.filename, b.filename));
    } else if (this.sort === 'size') rows.sort((a, b) => sign * (a.size - b.size));
    else if (this.dir === 'asc') rows.reverse();
    this.view = rows;
    return rows;
  }

  setOrder(sort: SortKey, dir: SortDir, filter: string): void {
    this.sort = sort;
    this.dir = dir;
    this.filter = filter;
    this.view = undefined;
    if (this.needsAll) void this.loadAll();
    this.onChange();
  }

  /** Makes sure rows up to `index` are loaded (the list asks as it scrolls). */
  ensure(index: number): void {
    if (index >= this.loaded.length - PAGE / 4 && !this.done) void this.next();
  }

  async loadAll(): Promise<void> {
    while (!this.done && !this.ctl.signal.aborted && this.needsAll) await this.next();
  }

  next(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.loading ??= (async () => {
      try {
        const page = await client.files.list({ folder: this.folder || undefined, recursive: false, limit: PAGE, cursor: this.cursor ?? undefined, signal: this.ctl.signal });
        this.loaded = this.loaded.concat(page.files);
        this.totalCount = page.total_count;
        this.totalSize = page.total_size;
        this.cursor = page.next_cursor;
        this.view = undefined;
        this.error = undefined;
      } catch (err) {
        if (this.ctl.signal.aborted) return;
        this.error = err;
        this.cursor = null;
      } finally {
        this.loading = undefined;
      }
      this.onChange();
    })();
    return this.loading;
  }

  /** Drops a file the page deleted or moved away, without reloading the folder. */
  remove(keys: Set<string>): void {
    const before = this.loaded.length;
    this.loaded = this.loaded.filter((f) => !keys.has(f.key));
    this.totalCount -= before - this.loaded.length;
    this.view = undefined;
    this.onChange();
  }

  close(): void {
    this.ctl.abort();
  }
}
