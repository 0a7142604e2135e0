/** Users in SQLite. Usernames are unique case-insensitively (username_key = lower(username)). */
import type Database from 'better-sqlite3';
import { WrongState } from '../errors/index.js';
import type { NewUser, UserPatch, UserRecord, UserStore } from './types.js';
import { type UserRow, toUser } from './rows.js';

const LIVE = 'deleted_at IS NULL';

export class SqliteUserStore implements UserStore {
  private readonly q;

  constructor(protected readonly db: Database.Database) {
    this.q = {
      userById: db.prepare(`SELECT * FROM users WHERE id = ? AND ${LIVE}`),
      userByName: db.prepare(`SELECT * FROM users WHERE username_key = ? AND ${LIVE}`),
      listUsers: db.prepare(`SELECT * FROM users WHERE ${LIVE} ORDER BY created_at, id`),
      countUsers: db.prepare(`SELECT COUNT(*) FROM users WHERE ${LIVE}`).pluck(),
      // A taken name (or id) is an outcome, read from the row count: no driver error code to sniff.
      insertUser: db.prepare(
        `INSERT INTO users (id, username, username_key, email, password_hash, role, is_active, created_at)
         VALUES (@id, @username, @usernameKey, @email, @passwordHash, @role, 1, @createdAt)
         ON CONFLICT DO NOTHING`,
      ),
    };
  }

  private insert(user: NewUser): boolean {
    return this.q.insertUser.run({ ...user, usernameKey: user.username.toLowerCase() }).changes === 1;
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    if (!this.insert(user)) throw new WrongState('username_taken', `Username "${user.username}" is already taken`);
    return (await this.getUserById(user.id))!;
  }

  async createUserIfAbsent(user: NewUser): Promise<{ created: boolean; user: UserRecord }> {
    if (this.insert(user)) return { created: true, user: (await this.getUserById(user.id))! };
    const holder = await this.getUserByUsername(user.username);
    // No holder: the clash was on the id, which callers draw at random (a programmer error).
    if (!holder) throw new Error(`user id ${user.id} is already in use`);
    return { created: false, user: holder };
  }

  async getUserById(id: string): Promise<UserRecord | null> {
    const row = this.q.userById.get(id) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const row = this.q.userByName.get(username.toLowerCase()) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (this.q.listUsers.all() as UserRow[]).map(toUser);
  }

  async countUsers(): Promise<number> {
    return this.q.countUsers.get() as number;
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const sets: string[] = [];
    const values: Record<string, unknown> = { id };
    const columns: [keyof UserPatch, string, (v: unknown) => unknown][] = [
      ['role', 'role', (v) => v],
      ['passwordHash', 'password_hash', (v) => v],
      ['isActive', 'is_active', (v) => (v ? 1 : 0)],
      ['quotaBytes', 'quota_bytes', (v) => v],
      ['email', 'email', (v) => v],
    ];
    for (const [key, column, convert] of columns) {
      if (patch[key] !== undefined) {
        sets.push(`${column} = @${column}`);
        values[column] = convert(patch[key]);
      }
    }
    if (sets.length > 0) {
      this.db.prepare(`UPDATE users SET ${sets.join(', ')} WHERE id = @id AND ${LIVE}`).run(values);
    }
    return this.getUserById(id);
  }

  async deleteUser(id: string): Promise<boolean> {
    // The row stays (disabled) so tokens already issued to this id keep failing the check.
    const result = this.db
      .prepare(`UPDATE users SET is_active = 0, deleted_at = ?, username_key = 'deleted:' || id WHERE id = ? AND ${LIVE}`)
      .run(new Date().toISOString(), id);
    return result.changes > 0;
  }
}
