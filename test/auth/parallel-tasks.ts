/**
 * Real parallelism for the auth tests: one task module (tasks/*.mjs) run in N worker threads
 * at once, each with its own store (its own database connection or file handles), meeting at
 * barriers so their calls race where instances would race: in the store.
 */
import { Worker } from 'node:worker_threads';

/** What one thread's task returned, or the error's class name and code (classes do not cross threads). */
export type TaskOutcome<T> = { ok: true; value: T } | { ok: false; name: string; code: string | null; message: string };

const WORKER = new URL('./tasks/worker.mjs', import.meta.url);

/** Runs `task` (a URL of a tasks/*.mjs module) once per entry of `argsPerThread`, all at once. */
export async function runTask<T>(task: URL, argsPerThread: unknown[], timeoutMs = 60_000): Promise<TaskOutcome<T>[]> {
  const gate = new SharedArrayBuffer(4);
  const workers = argsPerThread.map(
    (args) => new Worker(WORKER, { workerData: { task: task.href, args, parties: argsPerThread.length, gate } }),
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    const answers = workers.map(
      (w) =>
        new Promise<TaskOutcome<T>>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`task thread exited (${code}) before answering`)));
        }),
    );
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${task.pathname} did not finish in ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([Promise.all(answers), deadline]);
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The values of a run in which no thread may fail (a failure shows its code and message). */
export function values<T>(outcomes: TaskOutcome<T>[]): T[] {
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) throw new Error(`task failed in ${failed.length} thread(s): ${JSON.stringify(failed)}`);
  return outcomes.map((o) => (o as { value: T }).value);
}
