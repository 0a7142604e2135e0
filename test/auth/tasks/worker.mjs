// One thread of a parallel test (see ../parallel-tasks.ts): it imports a task module and runs
// its default export with the task's arguments. Worker threads cannot load TypeScript, so
// tasks import the built server from dist/ (built by the test global setup) through `dist`.
//
// `sync()` is a reusable barrier: every thread blocks in it until all have arrived, so the
// calls that follow one `sync()` start together and race in the store, not in one event loop.
import { parentPort, workerData } from 'node:worker_threads';

const { task, args, parties, gate } = workerData;
const arrivals = new Int32Array(gate);
let passed = 0;

function sync() {
  passed += 1;
  Atomics.add(arrivals, 0, 1);
  Atomics.notify(arrivals, 0);
  // Arrivals only grow: the n-th barrier is passed once n × parties threads have arrived.
  const released = () => Atomics.load(arrivals, 0) >= passed * parties;
  // Spin briefly first: a thread woken from a wait starts up to a scheduler tick late, far
  // longer than the store calls whose overlap the test is after.
  const spinUntil = performance.now() + 20;
  while (!released() && performance.now() < spinUntil);
  while (!released()) Atomics.wait(arrivals, 0, Atomics.load(arrivals, 0), 50);
}

const dist = (file) => import(new URL(`../../../dist/${file}`, import.meta.url).href);

try {
  const { default: run } = await import(task);
  parentPort.postMessage({ ok: true, value: await run({ args, sync, dist }) });
} catch (err) {
  parentPort.postMessage({ ok: false, name: err?.name ?? typeof err, code: err?.code ?? null, message: String(err?.message ?? err) });
}
