// One more instance of the metadata store, in its own thread, for pg-races.test.ts: like
// store-worker.mjs (it imports the built server in dist/, rebuilt by the test global setup),
// but each round is a short script of store calls, and workers may run different scripts, so
// a part races a completion, a sweep races a part, a finish races a reclaim.
//
// workerData: { databaseUrl, parties, gate, rounds: [[['uploads.putPart', ...args], …], …] }.
// Answers { opened, results }, one result per round: the values of its steps, or where it threw.
import { parentPort, workerData } from 'node:worker_threads';

const { openMetadataStore } = await import(new URL('../../dist/db/open.js', import.meta.url).href);
const { databaseUrl, rounds, parties, gate } = workerData;
const counter = new Int32Array(gate);
let barriers = 0;

/** Meets the other workers; spins before sleeping so that a round's calls start together. */
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

async function outcome(run) {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    return { ok: false, name: err?.name ?? typeof err, code: err?.code ?? null, message: String(err?.message ?? err) };
  }
}

async function runScript(steps) {
  const values = [];
  for (const [method, ...args] of steps) {
    const [part, name] = method.split('.');
    values.push(await store[part][name](...args));
  }
  return values;
}

barrier();
let store = null;
const opened = await outcome(async () => {
  store = await openMetadataStore({ databaseUrl });
});
barrier();
const results = [];
for (const steps of rounds) {
  barrier();
  results.push(await outcome(() => (store ? runScript(steps) : Promise.reject(new Error('store did not open')))));
}
await store?.close();
parentPort.postMessage({ opened, results });
