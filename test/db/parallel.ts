/**
 * Real parallelism for the conformance suites: N worker threads, each with its own connection
 * to one database (named by a DATABASE_URL), calling one store method round after round, every
 * round started together at a barrier. A check-then-write that is atomic only because one
 * event loop serialises it (never in the database) loses some of these races.
 */
import { Worker } from 'node:worker_threads';

/** What one call did in a worker: its value, or the error's class name and code. */
export type Outcome = { ok: true; value: unknown } | { ok: false; name: string; code: string | null; message: string };

export interface WorkerRun {
  /** Opening the store (and migrating it) in that thread. */
  opened: Outcome;
  /** One outcome per round. */
  results: Outcome[];
}

export interface ParallelJob {
  databaseUrl: string;
  /** `part.method` of the MetadataStore, e.g. 'uploads.createUploads'; omit to only open. */
  method?: string;
  /** Per worker, the arguments of each round (every worker must have as many rounds). */
  callsPerWorker: unknown[][][];
  /** Give up (and fail) after this long. */
  timeoutMs?: number;
}

const WORKER = new URL('./store-worker.mjs', import.meta.url);

export async function runInWorkers(job: ParallelJob): Promise<WorkerRun[]> {
  const perWorker = job.callsPerWorker.map((calls) => ({ method: job.method, calls }));
  return runStoreWorkers(job.databaseUrl, perWorker, job.timeoutMs);
}

/** One call of a script: `part.method` of the MetadataStore and its arguments. */
export type Step = [method: string, ...args: unknown[]];

/**
 * Each worker's scripts, round by round (workers may run different calls against each
 * other), every round started together; the outcomes per worker, each round's value being
 * the list of its steps' values. Every worker must have opened its store.
 */
export async function raceScripts(databaseUrl: string, perWorker: Step[][][], timeoutMs?: number): Promise<Outcome[][]> {
  const runs = await runStoreWorkers(databaseUrl, perWorker.map((rounds) => ({ rounds })), timeoutMs);
  for (const run of runs) if (!run.opened.ok) throw new Error(`a store worker could not open the store: ${label(run.opened)}`);
  return runs.map((run) => run.results);
}

async function runStoreWorkers(databaseUrl: string, perWorker: Record<string, unknown>[], timeoutMs = 30_000): Promise<WorkerRun[]> {
  const gate = new SharedArrayBuffer(4);
  const workers = perWorker.map((data) => new Worker(WORKER, { workerData: { ...data, databaseUrl, parties: perWorker.length, gate } }));
  let timer: NodeJS.Timeout | undefined;
  try {
    const runs = Promise.all(
      workers.map(
        (w) =>
          new Promise<WorkerRun>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`store worker exited (${code}) before answering`)));
          }),
      ),
    );
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('store workers did not finish in time')), timeoutMs);
    });
    return await Promise.race([runs, deadline]);
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A one-line label per outcome, for counting: 'ok', or 'ClassName:code'. */
export const label = (o: Outcome): string => (o.ok ? 'ok' : `${o.name}:${o.code ?? o.message}`);
