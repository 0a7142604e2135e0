/**
 * The folder's files as a virtualised list: only the rows in view (plus a few) are in the DOM,
 * placed by transform inside a spacer as tall as every row, so 100,000 files scroll as
 * smoothly as 100. Rows past the loaded pages show a placeholder and ask for the next page.
 * Arrow keys move between rows (the list scrolls to keep the focused one in view).
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { FileRecord } from '../../../src/client/index.js';
import type { FolderListing } from '../api/listing.js';
import { formatBytes, formatDate } from '../format.js';

const ROW = 44;
const OVERSCAN = 8;

export function FileList(props: { listing: FolderListing; selected: Set<string>; onToggle: (key: string) => void; onOpen: (f: FileRecord) => void }) {
  const { listing } = props;
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  const frame = useRef(0);

  useLayoutEffect(() => {
    const el = box.current!;
    const measure = () => setHeight(el.clientHeight || 600);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    box.current!.scrollTop = 0;
    setTop(0);
  }, [listing, listing.generation]);

  const count = listing.rowCount;
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((top + height) / ROW) + OVERSCAN);
  // Again after each page lands: a jump far ahead is reached page after page, by cursor.
  useEffect(() => listing.ensure(last), [last, listing, count, listing.loadedCount]);

  const onScroll = () => {
    // One state update per frame, whatever the scroll event rate.
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => setTop(box.current!.scrollTop));
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    const target = e.target as HTMLElement;
    const row = target.closest<HTMLElement>('[data-row]');
    if (!row) return;
    e.preventDefault();
    const i = Number(row.dataset.row);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? count - 1 : Math.max(0, Math.min(count - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
    const col = target.dataset.col ?? 'name';
    const el = box.current!;
    // Bring the row into view first: it may not be rendered yet.
    if (next * ROW < el.scrollTop) el.scrollTop = next * ROW;
    else if ((next + 1) * ROW > el.scrollTop + el.clientHeight) el.scrollTop = (next + 1) * ROW - el.clientHeight;
    setTop(el.scrollTop);
    requestAnimationFrame(() => el.querySelector<HTMLElement>(`[data-row="${next}"] [data-col="${col}"]`)?.focus());
  };

  const rows = [];
  for (let i = first; i < last; i++) {
    const f = listing.at(i);
    const y = { transform: `translateY(${i * ROW}px)` };
    if (!f) {
      rows.push(
        <li key={`p${i}`} class="file placeholder" style={y} aria-hidden="true">
          …
        </li>,
      );
      continue;
    }
    const checked = props.selected.has(f.key);
    rows.push(
      <li key={f.key} class={checked ? 'file selected' : 'file'} style={y} data-row={i} aria-posinset={i + 1} aria-setsize={count}>
        <input type="checkbox" data-col="check" checked={checked} aria-label={`Select ${f.filename}`} onChange={() => props.onToggle(f.key)} />
        <button type="button" class="name" data-col="name" title={f.filename} onClick={() => props.onOpen(f)}>
          {f.filename}
        </button>
        <span class="size">{formatBytes(f.size)}</span>
        <time class="date" dateTime={f.created_at}>
          {formatDate(f.created_at)}
        </time>
      </li>,
    );
  }

  return (
    <div class="list" ref={box} onScroll={onScroll} onKeyDown={onKeyDown}>
      {count === 0 && listing.done ? (
        <p class="empty">{listing.filter ? 'No file matches the filter.' : 'No files here yet. Drop files or folders anywhere on this page, or use Upload.'}</p>
      ) : (
        <ul class="rows" aria-label="Files" style={{ height: `${count * ROW}px` }}>
          {rows}
        </ul>
      )}
    </div>
  );
}
