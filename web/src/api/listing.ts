/**
 * One folder's files for the list view, in the order and with the name filter the person
 * chose: the server sorts and filters (GET /v1/files/all with sort, order, q) and the page
 * reads pages by cursor as the list scrolls, kept in one array the virtualised list reads by
 * index. Whatever the folder holds, showing it is one request; the totals are the server's.
 */
import type { FileRecord } from '../../../src/client/index.js';
import { client } from './session.js';

export type SortKey = 'date' | 'name' | 'size';
export type SortDir = 'asc' | 'desc';

/** The first page is small so the first rows show quickly; later ones large, so scrolling far asks rarely. */
const FIRST_PAGE = 200;
const PAGE = 2_000;
/** Rows ahead of the last one shown at which the next page is asked for. */
const AHEAD = 100;
/** Typing in the filter asks the server once the person pauses. */
const FILTER_DELAY_MS = 200;

export class FolderListing {
  /** Files in the server's order for the current sort, order and filter. */
  private loaded: FileRecord[] = [];
  private cursor: string | null | undefined = undefined;
  private loading: Promise<void> | undefined;
  /** Aborts the requests of one query (a new sort or filter starts another). */
  private ctl = new AbortController();
  private closed = false;
  private filterTimer: ReturnType<typeof setTimeout> | undefined;
  /** The filter the rows were asked with (the field's text may be ahead of it while typing). */
  private applied = '';
  /** Counts the queries (order or filter changes): the list scrolls back to the top on each. */
  generation = 0;
  totalCount = 0;
  totalSize = 0;
  error: unknown;
  sort: SortKey = 'date';
  dir: SortDir = 'desc';
  filter = '';

  constructor(
    readonly folder: string,
    private readonly onChange: () => void,
    initial?: { sort: SortKey; dir: SortDir; filter: string },
  ) {
    if (initial) {
      this.sort = initial.sort;
      this.dir = initial.dir;
      this.filter = initial.filter;
      this.applied = initial.filter.trim();
    }
  }

  get done(): boolean {
    return this.cursor === null;
  }

  get loadedCount(): number {
    return this.loaded.length;
  }

  /** Rows the list shows: every match, as the server counts them (the ones not here yet are placeholders). */
  get rowCount(): number {
    return Math.max(this.totalCount, this.loaded.length);
  }

  /** The file at a row, or undefined while its page is not here yet. */
  at(i: number): FileRecord | undefined {
    return this.loaded[i];
  }

  rows(): FileRecord[] {
    return this.loaded;
  }

  /** A new order asks for its first page at once; a new filter once typing pauses. */
  setOrder(sort: SortKey, dir: SortDir, filter: string): void {
    const reordered = sort !== this.sort || dir !== this.dir;
    this.sort = sort;
    this.dir = dir;
    this.filter = filter;
    clearTimeout(this.filterTimer);
    if (reordered || filter.trim() === this.applied) this.restart();
    else this.filterTimer = setTimeout(() => this.restart(), FILTER_DELAY_MS);
    this.onChange();
  }

  /** Drops the query's pages and asks for the first one again (the rows shown stay until it comes). */
  private restart(): void {
    this.ctl.abort();
    this.ctl = new AbortController();
    this.applied = this.filter.trim();
    this.generation++;
    this.cursor = undefined;
    this.loading = undefined;
    void this.next();
  }

  /** Makes sure rows up to `index` are loaded (the list asks as it scrolls, a little ahead). */
  ensure(index: number): void {
    if (index >= this.loaded.length - AHEAD && !this.done) void this.next();
  }

  /** The next page of the current query (its first page replaces the rows shown). */
  next(): Promise<void> {
    if (this.done || this.closed) return Promise.resolve();
    const ctl = this.ctl;
    this.loading ??= (async () => {
      try {
        const page = await client.files.list({
          folder: this.folder || undefined,
          recursive: false,
          limit: this.cursor ? PAGE : FIRST_PAGE,
          cursor: this.cursor ?? undefined,
          sort: this.sort,
          order: this.dir,
          q: this.applied || undefined,
          signal: ctl.signal,
        });
        if (ctl.signal.aborted) return;
        this.loaded = this.cursor === undefined ? page.files : this.loaded.concat(page.files);
        this.totalCount = page.total_count;
        this.totalSize = page.total_size;
        this.cursor = page.next_cursor;
        this.error = undefined;
      } catch (err) {
        if (ctl.signal.aborted) return;
        this.error = err;
        this.cursor = null;
      } finally {
        if (this.ctl === ctl) this.loading = undefined;
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
    this.onChange();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.filterTimer);
    this.ctl.abort();
  }
}
