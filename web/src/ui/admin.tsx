/** Users (admins only): list, create, disable/enable, role, quota. */
import { useEffect, useState } from 'preact/hooks';
import type { AdminUser, Role } from '../../../src/client/index.js';
import { client, type Me } from '../api/session.js';
import { errorText } from '../format.js';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export function Admin({ me }: { me: Me }) {
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [message, setMessage] = useState('');
  const load = () => client.admin.listUsers().then(setUsers, (err) => setMessage(errorText(err)));
  useEffect(() => void load(), []);

  const update = async (u: AdminUser, body: Parameters<typeof client.admin.updateUser>[1], done: string) => {
    setMessage('');
    try {
      await client.admin.updateUser(u.id, body);
      setMessage(done);
      await load();
    } catch (err) {
      setMessage(`${u.username}: ${errorText(err)}`);
    }
  };
  const create = async (e: Event) => {
    e.preventDefault();
    const formEl = e.currentTarget as HTMLFormElement;
    const form = new FormData(formEl);
    setMessage('');
    try {
      const quota = String(form.get('quota') ?? '').trim();
      const u = await client.admin.createUser({ username: String(form.get('username')), password: String(form.get('password')), role: form.get('role') as Role });
      if (quota) await client.admin.updateUser(u.id, { quota_gb: Number(quota) });
      formEl.reset();
      setMessage(`User ${u.username} created.`);
      await load();
    } catch (err) {
      setMessage(`Could not create the user: ${errorText(err)}`);
    }
  };

  return (
    <main class="admin">
      <h1>Users</h1>
      <form class="create-user" onSubmit={create} aria-label="Create a user">
        <label>
          Username
          <input name="username" required autoComplete="off" />
        </label>
        <label>
          Password
          <input name="password" type="password" required minLength={8} autoComplete="new-password" />
        </label>
        <label>
          Role
          <select name="role" defaultValue="operator">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Quota (GiB, empty: default)
          <input name="quota" type="number" min="0.001" step="any" inputMode="decimal" />
        </label>
        <button type="submit" class="primary">
          Create user
        </button>
      </form>
      <p role="status" aria-live="polite" class="status">
        {message}
      </p>
      {users === null ? (
        <p>Loading…</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Quota (GiB)</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <th scope="row">
                    {u.username}
                    {u.email ? <small> {u.email}</small> : null}
                  </th>
                  <td>
                    <select aria-label={`Role of ${u.username}`} value={u.role} disabled={u.id === me.id} onChange={(e) => update(u, { role: e.currentTarget.value as Role }, `${u.username} is now ${e.currentTarget.value}.`)}>
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <input
                      aria-label={`Quota of ${u.username} in GiB`}
                      type="number"
                      min="0.001"
                      step="any"
                      placeholder="default"
                      value={u.quota_gb ?? ''}
                      onChange={(e) => {
                        const v = e.currentTarget.value.trim();
                        void update(u, { quota_gb: v === '' ? null : Number(v) }, `Quota of ${u.username} saved.`);
                      }}
                    />
                  </td>
                  <td>
                    {u.is_active ? 'Active' : 'Disabled'}{' '}
                    <button type="button" disabled={u.id === me.id} onClick={() => update(u, { is_active: !u.is_active }, `${u.username} ${u.is_active ? 'disabled' : 'enabled'}.`)}>
                      {u.is_active ? 'Disable' : 'Enable'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
