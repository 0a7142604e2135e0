// Login-failure races (see ../failure-counts-conformance.ts). Each thread opens the store under
// test through its opener module (`openFailureCounts(options)`), then, per round, after a
// barrier, makes `attempts` takes on that round's key at once (over a pool of as many
// connections); returns, per round, whether each take was counted.
export default async function run({ args, sync }) {
  const { opener, rounds, attempts, limit, window, now } = args;
  const counts = await (await import(opener.module)).openFailureCounts(opener.options);
  const out = [];
  try {
    for (let r = 0; r < rounds; r++) {
      sync();
      const taken = await Promise.all(Array.from({ length: attempts }, () => counts.take(`race-${r}`, limit, window, now)));
      out.push(taken.map((t) => t.counted));
    }
  } finally {
    await counts.close?.();
  }
  return out;
}
