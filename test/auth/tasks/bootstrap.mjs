// Instances starting at once on one database (see ../admin-bootstrap.test.ts): each thread opens
// its own connection and, per round, after a barrier, bootstraps the admin named for that
// round, as createContext does at start-up. Returns per round the id of the admin it created,
// null when another had, or the error (code) it failed with; a failure does not stop the rounds.
// Hashing is one scrypt call at a low cost: the time a real start spends between looking the
// admin up and inserting it, without the hashing thread pool.
import { scrypt } from 'node:crypto';
import { promisify } from 'node:util';

export default async function run({ args, sync, dist }) {
  const { openMetadataStore } = await dist('db/open.js');
  const { UserService } = await dist('auth/users.js');
  const store = await openMetadataStore({ databaseUrl: args.databaseUrl });
  const hasher = { hash: async (password) => (await promisify(scrypt)(password, 'salt', 32, { N: 4096 })).toString('hex') };
  const users = new UserService(store.users, hasher, store.tokens);
  const created = [];
  try {
    for (const name of args.names) {
      sync();
      created.push(
        await users.bootstrapAdmin(name, 'admin-password').then(
          (user) => user?.id ?? null,
          (err) => ({ error: err?.code ?? String(err) }),
        ),
      );
    }
  } finally {
    await store.close();
  }
  return created;
}
