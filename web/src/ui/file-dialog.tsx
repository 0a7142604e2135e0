/**
 * One file: its preview and what can be done with it (download, signed link, move or rename,
 * delete). Previews never let a hostile file run script on this origin: images, video and
 * audio are loaded as media elements from the `/storage` URL (whose answer is
 * `Content-Security-Policy: sandbox` and inline only for passive types; media elements fetch
 * with Range); text of any type, HTML and SVG included, is read as bytes and shown as text;
 * a PDF goes in a sandboxed iframe.
 */
import { useEffect, useState } from 'preact/hooks';
import { encodeKey, type FileRecord } from '../../../src/client/index.js';
import { client } from '../api/session.js';
import { errorText, formatBytes, formatDate } from '../format.js';
import { Confirm, Modal } from './modal.js';

const TEXT_PREVIEW_BYTES = 256 * 1024;
let moveMissing = false;

const storagePath = (key: string): string => `/${encodeKey(key)}`;

type Kind = 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'none';

export function previewKind(mime: string): Kind {
  const m = mime.toLowerCase().split(';')[0]!.trim();
  if (m.startsWith('image/') && m !== 'image/svg+xml') return 'image';
  if (m.startsWith('video/')) return 'video';
  if (m.startsWith('audio/')) return 'audio';
  if (m === 'application/pdf') return 'pdf';
  if (m.startsWith('text/') || /[/+](json|xml|javascript|x-sh|x-yaml|yaml|toml|svg\+xml)$/.test(m) || m === 'image/svg+xml') return 'text';
  return 'none';
}

export function FileDialog(props: { file: FileRecord; onClose: () => void; onGone: (key: string) => void }) {
  const { file } = props;
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState('');
  return (
    <Modal title={file.filename} onClose={props.onClose} wide>
      <Preview file={file} />
      <p class="meta">
        {formatBytes(file.size)} · {file.mime} · {formatDate(file.created_at)}
        {file.folder ? ` · in ${file.folder}` : ''}
      </p>
      <div class="actions">
        <a class="button" href={`${storagePath(file.key)}?disposition=attachment`} download={file.filename}>
          Download
        </a>
        <button type="button" class="danger" onClick={() => setConfirm(true)}>
          Delete
        </button>
      </div>
      <ShareLink file={file} />
      <MoveForm file={file} onMoved={() => props.onGone(file.key)} />
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {confirm && (
        <Confirm
          title="Delete file"
          message={`Delete ${file.filename}? This cannot be undone.`}
          action="Delete"
          onClose={() => setConfirm(false)}
          onConfirm={async () => {
            try {
              await client.files.delete(file.key);
              props.onGone(file.key);
            } catch (err) {
              setError(errorText(err));
            }
          }}
        />
      )}
    </Modal>
  );
}

function Preview({ file }: { file: FileRecord }) {
  const src = storagePath(file.key);
  const kind = previewKind(file.mime);
  if (kind === 'image') return <img class="preview" src={src} alt={`Preview of ${file.filename}`} />;
  if (kind === 'video') return <video class="preview" src={src} controls preload="metadata" aria-label={`Video ${file.filename}`} />;
  if (kind === 'audio') return <audio class="preview" src={src} controls preload="metadata" aria-label={`Audio ${file.filename}`} />;
  if (kind === 'pdf') return <iframe class="preview pdf" src={src} sandbox="" title={`PDF ${file.filename}`} />;
  if (kind === 'text') return <TextPreview file={file} />;
  return <p class="no-preview">No preview for {file.mime}.</p>;
}

/** The first 256 KiB as text (a Range request), shown as text whatever the type says. */
function TextPreview({ file }: { file: FileRecord }) {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    const end = Math.min(file.size, TEXT_PREVIEW_BYTES) - 1;
    (end < 0 ? Promise.resolve('') : client.files.download(file.key, { range: { start: 0, end }, signal: ctl.signal }).then((r) => r.text()))
      .then((t) => setText(file.size > TEXT_PREVIEW_BYTES ? `${t}\n… (${formatBytes(file.size - TEXT_PREVIEW_BYTES)} more)` : t))
      .catch((err) => !ctl.signal.aborted && setText(`Could not load the preview: ${errorText(err)}`));
    return () => ctl.abort();
  }, [file.key]);
  return (
    <pre class="preview text" tabIndex={0} aria-label={`Text of ${file.filename}`}>
      {text ?? 'Loading…'}
    </pre>
  );
}

const LIFETIMES: Array<[number, string]> = [
  [15 * 60, '15 minutes'],
  [3600, '1 hour'],
  [24 * 3600, '1 day'],
  [7 * 24 * 3600, '7 days'],
];

function ShareLink({ file }: { file: FileRecord }) {
  const [lifetime, setLifetime] = useState(3600);
  const [link, setLink] = useState<{ url: string; expires_at: string } | null>(null);
  const [note, setNote] = useState('');
  const create = async () => {
    setNote('');
    try {
      const s = await client.files.signedUrl(file.key, { expiresIn: lifetime });
      setLink(s);
      try {
        await navigator.clipboard.writeText(s.url);
        setNote('Link copied to the clipboard.');
      } catch {
        setNote('Select the link and copy it.');
      }
    } catch (err) {
      setNote(`Could not create a link: ${errorText(err)}`);
    }
  };
  return (
    <fieldset class="share">
      <legend>Signed link</legend>
      <label>
        Valid for
        <select value={lifetime} onChange={(e) => setLifetime(Number(e.currentTarget.value))}>
          {LIFETIMES.map(([s, label]) => (
            <option key={s} value={s}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={create}>
        Copy signed link
      </button>
      {link && (
        <label class="link">
          Link (until {formatDate(link.expires_at)})
          <input readOnly value={link.url} onFocus={(e) => e.currentTarget.select()} />
        </label>
      )}
      <span role="status">{note}</span>
    </fieldset>
  );
}

function MoveForm({ file, onMoved }: { file: FileRecord; onMoved: () => void }) {
  const [to, setTo] = useState(file.folder ? `${file.folder}/${file.filename}` : file.filename);
  const [note, setNote] = useState(moveMissing ? 'Moving and renaming are not supported by this server.' : '');
  const submit = async (e: Event) => {
    e.preventDefault();
    setNote('');
    try {
      await client.files.move({ from: file.key, to: to.replace(/^\/+/, '') });
      onMoved();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((err as { status?: number }).status === 404 && code === 'not_found') {
        moveMissing = true;
        setNote('Moving and renaming are not supported by this server.');
      } else setNote(code === 'conflict' || (err as { status?: number }).status === 409 ? 'A file with that name is already there.' : errorText(err));
    }
  };
  return (
    <form class="move" onSubmit={submit}>
      <label>
        Move or rename to (folder/name)
        <input value={to} onInput={(e) => setTo(e.currentTarget.value)} disabled={moveMissing} required />
      </label>
      <button type="submit" disabled={moveMissing}>
        Move
      </button>
      <span role="status">{note}</span>
    </form>
  );
}
