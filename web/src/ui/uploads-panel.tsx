/** Uploads in progress: a bar per file and one for all, speed and time left, pause/resume/cancel, and the ones a reload left unfinished. */
import { useEffect, useState } from 'preact/hooks';
import { formatBytes, formatEta, formatSpeed, percent } from '../format.js';
import type { UploadItem, UploadQueue } from '../uploads/queue.js';

const STATE_TEXT: Record<UploadItem['state'], string> = {
  queued: 'Waiting',
  uploading: 'Uploading',
  paused: 'Paused',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function UploadsPanel({ queue }: { queue: UploadQueue }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const off = queue.subscribe(() => setTick((n) => n + 1));
    return () => void off();
  }, [queue]);
  const unfinished = queue.unfinished();
  const t = queue.totals();
  if (queue.items.length === 0 && unfinished.length === 0) return null;
  return (
    <section class="uploads" aria-label="Uploads">
      {unfinished.length > 0 && (
        <div class="unfinished" role="region" aria-label="Unfinished uploads">
          <p>
            {unfinished.length} upload{unfinished.length === 1 ? '' : 's'} did not finish. Add the same file again (Upload files, or drop it) to resume: only the missing parts are sent.
          </p>
          <ul>
            {unfinished.map((u) => (
              <li key={u.uploadId}>
                {u.name} ({formatBytes(u.size)}){u.folder ? ` in ${u.folder}` : ''}{' '}
                <button type="button" onClick={() => queue.discard(u.uploadId)} aria-label={`Discard unfinished upload of ${u.name}`}>
                  Discard
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      {queue.items.length > 0 && (
        <>
          <div class="total">
            <progress max={Math.max(1, t.size)} value={t.bytes} aria-label="All uploads" />
            <span data-testid="upload-total">
              {percent(t.size ? t.bytes / t.size : 1)} · {formatBytes(t.bytes)} of {formatBytes(t.size)} · {formatSpeed(t.bytesPerSecond)} · {formatEta(t.etaSeconds)} left
            </span>
            <button type="button" onClick={() => queue.clearFinished()}>
              Clear finished
            </button>
          </div>
          <ul class="upload-list">
            {queue.items.map((i) => (
              <li key={i.id} class={`upload ${i.state}`} data-state={i.state}>
                <span class="upload-name" title={i.folder ? `${i.folder}/${i.name}` : i.name}>
                  {i.folder ? `${i.folder}/` : ''}
                  {i.name}
                </span>
                <progress max={Math.max(1, i.size)} value={i.state === 'done' ? i.size : i.bytes} aria-label={`Upload of ${i.name}`} />
                <span class="upload-figures">
                  {STATE_TEXT[i.state]} {percent(i.size ? (i.state === 'done' ? 1 : i.bytes / i.size) : 1)}
                  {i.state === 'uploading' && ` · ${formatSpeed(i.bytesPerSecond)} · ${formatEta(i.etaSeconds)} left`}
                  {i.resumedBytes > 0 && ` · resumed at ${formatBytes(i.resumedBytes)}`}
                  {i.error && ` · ${i.error}`}
                </span>
                <span class="upload-actions">
                  {(i.state === 'uploading' || i.state === 'queued') && (
                    <button type="button" onClick={() => queue.pause(i.id)} aria-label={`Pause ${i.name}`}>
                      Pause
                    </button>
                  )}
                  {(i.state === 'paused' || i.state === 'failed') && (
                    <button type="button" onClick={() => queue.resume(i.id)} aria-label={`Resume ${i.name}`}>
                      Resume
                    </button>
                  )}
                  {i.state !== 'done' && i.state !== 'cancelled' && (
                    <button type="button" onClick={() => queue.cancel(i.id)} aria-label={`Cancel ${i.name}`}>
                      Cancel
                    </button>
                  )}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
