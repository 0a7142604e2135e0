/** Users in SQLite. Usernames are unique case-insensitively (username_key = lower(username)). */
import type Database from 'better-sqlite3';
import { WrongState } from '../errors/index.js';
import type { SqliteOutbox } from './sqlite-outbox.js';
import type { NewUser, OutboxEvent, UserPatch, UserRecord, UserStore } from './types.js';
import { type UserRow, toUser } from './rows.js';

const LIVE = 'deleted_at IS NULL';

export class SqliteUserStore implements UserStore {
  private readonly q;

  constructor(
    protected readonly db: Database.Database,
    private readonly outbox: SqliteOutbox,
  ) {
    this.q = {
      userById: db.prepare(`SELECT * FROM users WHERE id = ? AND ${LIVE}`),
      userByName: db.prepare(`SELECT * FROM users WHERE username_key = ? AND ${LIVE}`),
      listUsers: db.prepare(`SELECT * FROM users WHERE ${LIVE} ORDER BY created_at, id`),
      replaceHash: db.prepare(`UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ? AND ${LIVE}`),
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

  async createUser(user: NewUser, event?: OutboxEvent): Promise<UserRecord> {
    const inserted = this.db.transaction(() => {
      if (!this.insert(user)) return false;
      this.outbox.insertInTransaction(event);
      return true;
    })();
    if (!inserted) throw new WrongState('username_taken', `Username "${user.username}" is already taken`);
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

  async updateUser(id: string, patch: UserPatch, event?: OutboxEvent): Promise<UserRecord | null> {
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
      const update = this.db.prepare(`UPDATE users SET ${sets.join(', ')} WHERE id = @id AND ${LIVE}`);
      this.db.transaction(() => {
        if (update.run(values).changes > 0) this.outbox.insertInTransaction(event);
      })();
    }
    return this.getUserById(id);
  }

  async replacePasswordHash(id: string, current: string, next: string): Promise<boolean> {
    return this.q.replaceHash.run(next, id, current).changes === 1;
  }

  async deleteUser(id: string, event?: OutboxEvent): Promise<boolean> {
    // The row stays (disabled) so tokens already issued to this id keep failing the check.
    const remove = this.db.prepare(`UPDATE users SET is_active = 0, deleted_at = ?, username_key = 'deleted:' || id WHERE id = ? AND ${LIVE}`);
    return this.db.transaction(() => {
      if (remove.run(new Date().toISOString(), id).changes === 0) return false;
      this.outbox.insertInTransaction(event);
      return true;
    })();
  }
}
