// Key-ring races (see ../key-store-conformance.ts). Each thread opens the store under test
// through its opener module (`openKeyStore(options)`), then, per round, after a barrier:
//   'add'    adds args.key and returns the outcome;
//   'rotate' runs KeyRing.rotate and returns the kid it reports;
//   'open'   opens a KeyRing (an instance starting), and after a second barrier reloads it
//            (its next refresh); returns the signing kid after each.
export default async function run({ args, sync, dist }) {
  const { opener, op, rounds = 1, alg = 'ES256' } = args;
  const store = await (await import(opener.module)).openKeyStore(opener.options);
  const { KeyRing } = await dist('auth/keyring.js');
  const opts = { store, alg, retentionSeconds: 3600 };
  const out = [];
  for (let r = 0; r < rounds; r++) {
    sync();
    if (op === 'add') out.push(await store.add(args.key));
    if (op === 'rotate') out.push(await KeyRing.rotate(opts));
    if (op === 'open') {
      const ring = await KeyRing.open(opts);
      out.push(ring.signingKey().kid);
      sync();
      await ring.reload();
      out.push(ring.signingKey().kid);
    }
  }
  return out;
}
