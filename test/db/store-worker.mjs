// One more connection to the metadata store under test, in its own thread (see parallel.ts).
// It imports the built server (dist/, which the test global setup builds) because a worker
// thread cannot load TypeScript; it opens the store through openMetadataStore, so any engine
// reachable by a DATABASE_URL runs here unchanged.
//
// Protocol: every worker meets the others at a barrier before opening, after opening and
// before each round, so the calls of one round start together and race in the database.
// A round is one call of `method` (workerData.calls: its arguments per round), or a short
// script of calls (workerData.rounds: [[['uploads.putPart', ...args], …], …]) so that workers
// run different calls against each other: a part racing a completion, a sweep racing a part.
import { parentPort, workerData } from 'node:worker_threads';

const { openMetadataStore } = await import(new URL('../../dist/db/open.js', import.meta.url).href);
const { databaseUrl, calls, method, parties, gate } = workerData;
/** Scripts per round; a plain call's answer is its value, a script's the list of its values. */
const rounds = workerData.rounds ?? (method ? calls.map((args) => [[method, ...args]]) : calls.map(() => []));
const single = !workerData.rounds;
const counter = new Int32Array(gate);
let barriers = 0;

/**
 * Blocks until all `parties` workers have reached their n-th barrier. It spins a little
 * before sleeping: a sleeping thread wakes tens of microseconds after the last one arrives,
 * as long as a whole transaction, and the races would then rarely overlap.
 */
function barrier() {
  const target = ++barriers * parties;
  if (Atomics.add(counter, 0, 1) + 1 >= target) {
    Atomics.notify(counter, 0);
    return;
  }
  for (let spins = 0; ; spins++) {
    const seen = Atomics.load(counter, 0);
    if (seen >= target) return;
    if (spins > 20_000) Atomics.wait(counter, 0, seen, 100);
  }
}

/** What a call did, as plain data: error classes do not cross threads, their names and codes do. */
async function outcome(run) {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    return { ok: false, name: err?.name ?? typeof err, code: err?.code ?? null, message: String(err?.message ?? err) };
  }
}

barrier();
let store = null;
const opened = await outcome(async () => {
  store = await openMetadataStore({ databaseUrl });
});
barrier();
async function runScript(steps) {
  const values = [];
  for (const [call, ...args] of steps) {
    const [part, name] = call.split('.');
    values.push(await store[part][name](...args));
  }
  return single ? values[0] : values;
}

const results = [];
for (const steps of rounds) {
  barrier();
  results.push(await outcome(() => (store ? runScript(steps) : Promise.reject(new Error('store did not open')))));
}
await store?.close();
parentPort.postMessage({ opened, results });
