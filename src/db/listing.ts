/**
 * The order of a listing, shared by both SQL engines so that they page identically: the sort
 * key as an SQL expression over the files table, its direction, and the keyset position's
 * value. Name order folds ASCII case only, then compares bytes, then ids: SQLite's lower()
 * folds ASCII alone, PostgreSQL's folds more (É too, even under COLLATE "C"), so each engine
 * passes its own spelling of the fold (`fold`), and its index is built on that expression.
 */
import type { ListOrder, ListQuery, ListSort } from './types.js';

export interface ListOrdering {
  sort: ListSort;
  order: ListOrder;
  /** The sort key over a files row; the listing indexes are built on the same expressions. */
  key: string;
  /** '<' walking down, '>' walking up: the comparison that resumes after a keyset position. */
  cmp: '<' | '>';
  dir: 'ASC' | 'DESC';
  /** The keyset position's sort value and id, when the query has one. */
  after?: { value: string | number; id: string };
}

/** Newest first and largest first read as the natural way round; names read A to Z. */
export function defaultOrder(sort: ListSort): ListOrder {
  return sort === 'name' ? 'asc' : 'desc';
}

/** An engine's ASCII-only case fold of an SQL expression. */
export type Fold = (sql: string) => string;

export function listOrdering(query: ListQuery, fold: Fold): ListOrdering {
  const sort = query.sort ?? 'date';
  const order = query.order ?? defaultOrder(sort);
  const a = query.after as { createdAt?: string; filename?: string; size?: number; id: string } | undefined;
  const value = a === undefined ? undefined : sort === 'date' ? a.createdAt : sort === 'name' ? a.filename : a.size;
  if (a !== undefined && value === undefined) throw new Error(`a ${sort} listing was given a keyset position of another order`);
  return {
    sort,
    order,
    key: sort === 'date' ? 'created_at' : sort === 'name' ? fold('filename') : 'size',
    cmp: order === 'desc' ? '<' : '>',
    dir: order === 'desc' ? 'DESC' : 'ASC',
    after: a === undefined ? undefined : { value: value!, id: a.id },
  };
}

/** The needle of a name filter, or undefined when it filters nothing. */
export function nameNeedle(query: ListQuery): string | undefined {
  return query.nameContains ? query.nameContains : undefined;
}
