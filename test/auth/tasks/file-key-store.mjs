// Opens a FileKeyStore in a task thread (key-ring.mjs): the conformance suite's way to reach
// the store under test from another thread. A database store gets an opener of its own.
export async function openKeyStore({ dir }) {
  const { FileKeyStore } = await import(new URL('../../../dist/auth/key-store-file.js', import.meta.url).href);
  return new FileKeyStore(dir);
}
