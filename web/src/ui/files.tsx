/**
 * The files view: breadcrumbs, sub-folders, the folder's files (virtualised), the toolbar
 * (upload, filter, sort), actions on the selection (ZIP, delete), the uploads panel, and a
 * drop zone over the whole view for files and folders.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FileRecord } from '../../../src/client/index.js';
import { subFolders, type FolderEntry } from '../api/folders.js';
import { FolderListing, type SortDir, type SortKey } from '../api/listing.js';
import { client, type Me } from '../api/session.js';
import { errorText, formatBytes } from '../format.js';
import { fromDrop, fromInput } from '../uploads/entries.js';
import { UploadQueue } from '../uploads/queue.js';
import { folderHref } from './app.js';
import { FileList } from './file-list.js';
import { FileDialog } from './file-dialog.js';
import { Confirm } from './modal.js';
import { UploadsPanel } from './uploads-panel.js';

export function Files(props: { me: Me; folder: string; onUsage: () => void }) {
  const { folder } = props;
  const [, setTick] = useState(0);
  const redraw = () => setTick((n) => n + 1);
  const [version, setVersion] = useState(0);
  const reload = () => setVersion((n) => n + 1);
  // The chosen order outlives a reload of the listing (a file landing here) and a change of
  // folder; the filter only a reload of the same folder.
  const order = useRef<{ folder: string; sort: SortKey; dir: SortDir; filter: string }>({ folder, sort: 'date', dir: 'desc', filter: '' });
  const listing = useMemo(() => {
    const o = order.current;
    const filter = o.folder === folder ? o.filter : '';
    order.current = { ...o, folder, filter };
    return new FolderListing(folder, redraw, { sort: o.sort, dir: o.dir, filter });
  }, [folder, version]);
  const reorder = (sort: SortKey, dir: SortDir, filter: string) => {
    order.current = { folder, sort, dir, filter };
    listing.setOrder(sort, dir, filter);
  };
  const [folders, setFolders] = useState<FolderEntry[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<FileRecord | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [message, setMessage] = useState('');
  const [dragging, setDragging] = useState(false);
  const filesInput = useRef<HTMLInputElement>(null);
  const dirInput = useRef<HTMLInputElement>(null);

  // The queue outlives folder changes (uploads go on while the person browses).
  const here = useRef(folder);
  here.current = folder;
  const queue = useMemo(
    () =>
      new UploadQueue(props.me.id, (record) => {
        // A file landed here or below: show it without waiting for the whole batch.
        const at = here.current;
        const into = record.folder ?? '';
        if (into === at) reload();
        else if (at === '' || into.startsWith(`${at}/`)) void subFolders(at, new AbortController().signal).then(setFolders, () => undefined);
        props.onUsage();
      }),
    [],
  );

  useEffect(() => {
    void listing.next();
    const ctl = new AbortController();
    setFolders([]);
    subFolders(folder, ctl.signal).then(setFolders, () => undefined);
    return () => {
      listing.close();
      ctl.abort();
    };
  }, [listing]);
  useEffect(() => setSelected(new Set()), [folder]);

  const crumbs = folder ? folder.split('/') : [];
  const addFiles = async (picked: Awaited<ReturnType<typeof fromDrop>>) => {
    if (picked.length) await queue.add(picked, folder);
  };
  const toggle = (key: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  const zip = async () => {
    setMessage('');
    try {
      const batch = await client.files.batch({ keys: [...selected], name: `${folder.split('/').pop() || 'files'}.zip` });
      const a = document.createElement('a');
      a.href = batch.url;
      a.download = '';
      document.body.append(a);
      a.click();
      a.remove();
      setMessage(`ZIP of ${batch.count} files (${formatBytes(batch.total_size)}) is downloading.`);
    } catch (err) {
      setMessage(`ZIP failed: ${errorText(err)}`);
    }
  };
  const deleteSelected = async () => {
    const keys = [...selected];
    const gone = new Set<string>();
    const failed: string[] = [];
    for (const key of keys) {
      try {
        await client.files.delete(key);
        gone.add(key);
      } catch (err) {
        failed.push(errorText(err));
      }
    }
    listing.remove(gone);
    setSelected(new Set());
    setMessage(failed.length ? `${gone.size} deleted, ${failed.length} failed: ${failed[0]}` : `${gone.size} deleted.`);
    props.onUsage();
  };

  return (
    <main
      class={dragging ? 'files dragging' : 'files'}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => e.currentTarget === e.target && setDragging(false)}
      onDrop={async (e) => {
        e.preventDefault();
        setDragging(false);
        if (e.dataTransfer) await addFiles(await fromDrop(e.dataTransfer));
      }}
    >
      <nav aria-label="Breadcrumbs" class="crumbs">
        <ol>
          <li>
            <a href={folderHref('')} aria-current={crumbs.length === 0 ? 'page' : undefined}>
              My files
            </a>
          </li>
          {crumbs.map((c, i) => (
            <li key={i}>
              <a href={folderHref(crumbs.slice(0, i + 1).join('/'))} aria-current={i === crumbs.length - 1 ? 'page' : undefined}>
                {c}
              </a>
            </li>
          ))}
        </ol>
      </nav>

      <div class="toolbar" role="toolbar" aria-label="Files">
        <button type="button" class="primary" onClick={() => filesInput.current!.click()}>
          Upload files
        </button>
        <button type="button" onClick={() => dirInput.current!.click()}>
          Upload folder
        </button>
        <input ref={filesInput} type="file" multiple hidden aria-label="Choose files to upload" data-testid="file-input" onChange={async (e) => {
          const input = e.currentTarget;
          await addFiles(fromInput(input.files));
          input.value = '';
        }} />
        <input ref={dirInput} type="file" multiple hidden aria-label="Choose a folder to upload" {...{ webkitdirectory: true }} onChange={async (e) => {
          const input = e.currentTarget;
          await addFiles(fromInput(input.files));
          input.value = '';
        }} />
        <input type="search" placeholder="Filter by name" aria-label="Filter by name" value={listing.filter} onInput={(e) => reorder(listing.sort, listing.dir, e.currentTarget.value)} />
        <label class="sort">
          <span class="sr-only">Sort by</span>
          <select aria-label="Sort by" value={`${listing.sort}-${listing.dir}`} onChange={(e) => {
            const [sort, dir] = e.currentTarget.value.split('-') as [SortKey, SortDir];
            reorder(sort, dir, listing.filter);
          }}>
            <option value="date-desc">Newest first</option>
            <option value="date-asc">Oldest first</option>
            <option value="name-asc">Name A–Z</option>
            <option value="name-desc">Name Z–A</option>
            <option value="size-desc">Largest first</option>
            <option value="size-asc">Smallest first</option>
          </select>
        </label>
      </div>

      {selected.size > 0 && (
        <div class="selection" role="region" aria-label="Selection">
          <span>{selected.size} selected</span>
          <button type="button" onClick={zip}>
            Download ZIP
          </button>
          <button type="button" class="danger" onClick={() => setConfirmDelete(true)}>
            Delete selected
          </button>
          <button type="button" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        </div>
      )}
      <p class="status" role="status" aria-live="polite">
        {message}
      </p>

      {folders.length > 0 && (
        <ul class="folders" aria-label="Folders">
          {folders.map((f) => (
            <li key={f.path}>
              <a href={folderHref(f.path)}>
                {f.name}
                <span aria-hidden="true">/</span>
                <small>
                  {' '}
                  {f.file_count} files, {formatBytes(f.total_size)}
                </small>
              </a>
            </li>
          ))}
        </ul>
      )}

      <FileList listing={listing} selected={selected} onToggle={toggle} onOpen={setOpen} />
      <p class="summary" aria-live="polite">
        {listing.error
          ? `Could not list this folder: ${errorText(listing.error)}`
          : `${listing.totalCount.toLocaleString()} ${listing.filter.trim() ? 'matching ' : ''}files, ${formatBytes(listing.totalSize)}`}
      </p>

      <UploadsPanel queue={queue} />
      <div class="drop-hint" aria-hidden="true">
        Drop files or folders to upload to {folder || 'My files'}
      </div>

      {open && (
        <FileDialog
          file={open}
          onClose={() => setOpen(null)}
          onGone={(key) => {
            listing.remove(new Set([key]));
            setOpen(null);
            props.onUsage();
          }}
        />
      )}
      {confirmDelete && (
        <Confirm
          title="Delete files"
          message={`Delete ${selected.size} file${selected.size === 1 ? '' : 's'}? This cannot be undone.`}
          action="Delete"
          onConfirm={deleteSelected}
          onClose={() => setConfirmDelete(false)}
        />
      )}
    </main>
  );
}
