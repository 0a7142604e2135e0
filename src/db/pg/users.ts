/**
 * UserStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgUserStore implements T.UserStore {
  constructor(private readonly db: PgClient) {}

  async createUser(_user: T.NewUser): Promise<T.UserRecord> {
    throw new Error('PgStore.users.createUser: not written yet');
  }

  async createUserIfAbsent(_user: T.NewUser): Promise<{ created: boolean; user: T.UserRecord }> {
    throw new Error('PgStore.users.createUserIfAbsent: not written yet');
  }

  async getUserById(_id: string): Promise<T.UserRecord | null> {
    throw new Error('PgStore.users.getUserById: not written yet');
  }

  async getUserByUsername(_username: string): Promise<T.UserRecord | null> {
    throw new Error('PgStore.users.getUserByUsername: not written yet');
  }

  async listUsers(): Promise<T.UserRecord[]> {
    throw new Error('PgStore.users.listUsers: not written yet');
  }

  async updateUser(_id: string, _patch: T.UserPatch): Promise<T.UserRecord | null> {
    throw new Error('PgStore.users.updateUser: not written yet');
  }

  async deleteUser(_id: string): Promise<boolean> {
    throw new Error('PgStore.users.deleteUser: not written yet');
  }

  async countUsers(): Promise<number> {
    throw new Error('PgStore.users.countUsers: not written yet');
  }
}
