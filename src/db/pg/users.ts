/**
 * Users on PostgreSQL. Usernames are unique case-insensitively (username_key = lower(username),
 * UNIQUE), so two instances creating the same name at once cannot both succeed: the insert
 * does nothing on conflict and the row count says who won, with no error code to sniff.
 */
import { WrongState } from '../../errors/index.js';
import type { NewUser, OutboxEvent, UserPatch, UserRecord, UserStore } from '../types.js';
import type pg from 'pg';
import type { PgClient } from './client.js';
import { insertEvent } from './outbox.js';

/** The pool or a transaction's client: what a statement runs on. */
interface Runner {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}
import { type UserRow, toUser } from '../rows.js';

const COLUMNS = 'id, username, email, password_hash, role, is_active, quota_bytes, created_at';
const LIVE = 'deleted_at IS NULL';

const SQL = {
  byId: `SELECT ${COLUMNS} FROM users WHERE id = $1 AND ${LIVE}`,
  byName: `SELECT ${COLUMNS} FROM users WHERE username_key = $1 AND ${LIVE}`,
  // SQLite's order is bytewise; "C" gives the same here whatever the database's locale.
  list: `SELECT ${COLUMNS} FROM users WHERE ${LIVE} ORDER BY created_at COLLATE "C", id COLLATE "C"`,
  count: `SELECT COUNT(*) AS n FROM users WHERE ${LIVE}`,
  // Waits for a concurrent insert of the same name to commit, then does nothing: a race is an
  // outcome. The key ($7) is lower-cased in JS, as SQLite's store does, so both key alike.
  insert: `INSERT INTO users (id, username, username_key, email, password_hash, role, is_active, created_at)
           VALUES ($1, $2, $7, $3, $4, $5, 1, $6)
           ON CONFLICT DO NOTHING
           RETURNING ${COLUMNS}`,
  // One statement for every patch: a flag per column says whether to set it, so null can be set.
  update: `UPDATE users SET
             role = COALESCE($2, role),
             password_hash = COALESCE($3, password_hash),
             is_active = COALESCE($4::integer, is_active),
             quota_bytes = CASE WHEN $5::boolean THEN $6::bigint ELSE quota_bytes END,
             email = CASE WHEN $7::boolean THEN $8::text ELSE email END
           WHERE id = $1 AND ${LIVE}
           RETURNING ${COLUMNS}`,
  replaceHash: `UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2 AND ${LIVE}`,
  // The row stays (disabled) so tokens already issued to this id keep failing the check.
  delete: `UPDATE users SET is_active = 0, deleted_at = $2, username_key = 'deleted:' || id WHERE id = $1 AND ${LIVE}`,
};

export class PgUserStore implements UserStore {
  constructor(private readonly db: PgClient) {}

  /** The new record, or null when the username (or the id) is taken. */
  private async insert(user: NewUser, c: Runner = this.db): Promise<UserRecord | null> {
    const { rows } = await c.query<UserRow>(SQL.insert, [
      user.id,
      user.username,
      user.email,
      user.passwordHash,
      user.role,
      user.createdAt,
      user.username.toLowerCase(),
    ]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async createUser(user: NewUser, event?: OutboxEvent): Promise<UserRecord> {
    const created = event
      ? await this.db.tx(async (c) => {
          const inserted = await this.insert(user, c);
          if (inserted) await insertEvent(c, event);
          return inserted;
        })
      : await this.insert(user);
    if (!created) throw new WrongState('username_taken', `Username "${user.username}" is already taken`);
    return created;
  }

  async createUserIfAbsent(user: NewUser): Promise<{ created: boolean; user: UserRecord }> {
    const created = await this.insert(user);
    if (created) return { created: true, user: created };
    const holder = await this.getUserByUsername(user.username);
    // No holder: the clash was on the id, which callers draw at random (a programmer error).
    if (!holder) throw new Error(`user id ${user.id} is already in use`);
    return { created: false, user: holder };
  }

  async getUserById(id: string): Promise<UserRecord | null> {
    const { rows } = await this.db.query<UserRow>(SQL.byId, [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const { rows } = await this.db.query<UserRow>(SQL.byName, [username.toLowerCase()]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.query<UserRow>(SQL.list)).rows.map(toUser);
  }

  async countUsers(): Promise<number> {
    return (await this.db.query<{ n: number }>(SQL.count)).rows[0]!.n;
  }

  async updateUser(id: string, patch: UserPatch, event?: OutboxEvent): Promise<UserRecord | null> {
    if (event) {
      return this.db.tx(async (c) => {
        const updated = await this.update(id, patch, c);
        if (updated) await insertEvent(c, event);
        return updated;
      });
    }
    return this.update(id, patch, this.db);
  }

  private async update(id: string, patch: UserPatch, c: Runner): Promise<UserRecord | null> {
    const { rows } = await c.query<UserRow>(SQL.update, [
      id,
      patch.role ?? null,
      patch.passwordHash ?? null,
      patch.isActive === undefined ? null : patch.isActive ? 1 : 0,
      patch.quotaBytes !== undefined,
      patch.quotaBytes ?? null,
      patch.email !== undefined,
      patch.email ?? null,
    ]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async replacePasswordHash(id: string, current: string, next: string): Promise<boolean> {
    const { rowCount } = await this.db.query(SQL.replaceHash, [id, current, next]);
    return rowCount === 1;
  }

  async deleteUser(id: string, event?: OutboxEvent): Promise<boolean> {
    return this.db.tx(async (c) => {
      const { rowCount } = await c.query(SQL.delete, [id, new Date().toISOString()]);
      if ((rowCount ?? 0) === 0) return false;
      await insertEvent(c, event);
      return true;
    });
  }
}
