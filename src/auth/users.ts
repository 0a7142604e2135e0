/**
 * User management: creation with hashed passwords, updates, soft deletion, the admin
 * bootstrap, and authentication that costs the same for an unknown user as for a wrong
 * password (so timing does not reveal which usernames exist).
 */
import { randomUUID } from 'node:crypto';
import type { NewUser, Role, TokenStore, UserRecord, UserStore } from '../db/types.js';
import { GiB } from '../config/durations.js';
import { UserNotFound } from '../errors/index.js';
import type { PasswordHasher } from './passwords.js';
import { noEvents, type EventFactory } from '../events/events.js';

// The field rules are the wire contract's (src/contract/auth.ts), shared with the SDK.
export { passwordSchema, roleSchema, usernameSchema } from '../contract/auth.js';

/** The public view of a user: never the hash. */
export interface PublicUser {
  id: string;
  username: string;
  email: string | null;
  role: Role;
  roles: Role[];
  is_active: boolean;
  quota_gb: number | null;
  created_at: string;
}

export function publicUser(u: UserRecord): PublicUser {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: u.role,
    roles: [u.role],
    is_active: u.isActive,
    // Bytes are whole numbers; six decimals of GiB read back what was set (0.001, not 0.00099999).
    quota_gb: u.quotaBytes === null ? null : Number((u.quotaBytes / GiB).toFixed(6)),
    created_at: u.createdAt,
  };
}

export interface NewUserInput {
  username: string;
  password: string;
  role?: Role;
  email?: string | null;
}

export interface UserUpdate {
  role?: Role;
  password?: string;
  is_active?: boolean;
  quota_gb?: number | null;
  email?: string | null;
}

export class UserService {
  constructor(
    private readonly store: UserStore,
    private readonly hasher: PasswordHasher,
    private readonly sessions: Pick<TokenStore, 'revokeUserSessions'>,
    /** Webhook events: user.created and user.disabled are written with the change. */
    private readonly events: EventFactory = noEvents,
  ) {}

  private async newUser(input: NewUserInput): Promise<NewUser> {
    return {
      id: randomUUID(),
      username: input.username,
      email: input.email ?? null,
      passwordHash: await this.hasher.hash(input.password),
      role: input.role ?? 'operator',
      createdAt: new Date().toISOString(),
    };
  }

  async create(input: NewUserInput): Promise<UserRecord> {
    const user = await this.newUser(input);
    return this.store.createUser(user, this.events.userCreated({ ...user, isActive: true, quotaBytes: null }));
  }

  list(): Promise<UserRecord[]> {
    return this.store.listUsers();
  }

  async get(id: string): Promise<UserRecord> {
    const user = await this.store.getUserById(id);
    if (!user) throw new UserNotFound();
    return user;
  }

  /** Looks a user up by id, or else by username (the CLI takes either). */
  async find(idOrUsername: string): Promise<UserRecord> {
    const user = (await this.store.getUserById(idOrUsername)) ?? (await this.store.getUserByUsername(idOrUsername));
    if (!user) throw new UserNotFound();
    return user;
  }

  async update(id: string, update: UserUpdate): Promise<UserRecord> {
    const before = await this.get(id);
    const disabling = update.is_active === false && before.isActive;
    const patch = {
      role: update.role,
      isActive: update.is_active,
      email: update.email,
      quotaBytes: update.quota_gb === undefined ? undefined : update.quota_gb === null ? null : Math.floor(update.quota_gb * GiB),
      passwordHash: update.password === undefined ? undefined : await this.hasher.hash(update.password),
    };
    const updated = await this.store.updateUser(id, patch, disabling ? this.events.userDisabled(before) : undefined);
    // A new password, another role or a disabled account ends every session at once: a stolen
    // refresh token must not outlive the password change, nor a token carry the old role.
    const roleChanged = update.role !== undefined && update.role !== before.role;
    if (update.password !== undefined || roleChanged || update.is_active === false) await this.endSessions(id);
    return updated!;
  }

  async remove(id: string): Promise<void> {
    const user = await this.store.getUserById(id);
    if (!user || !(await this.store.deleteUser(id, this.events.userDisabled(user, true)))) throw new UserNotFound();
    await this.endSessions(id);
  }

  private endSessions(userId: string): Promise<void> {
    return this.sessions.revokeUserSessions(userId, Math.floor(Date.now() / 1000));
  }

  /** The user, or null for an unknown user, a wrong password or a disabled account. */
  async authenticate(username: string, password: string): Promise<UserRecord | null> {
    const user = await this.store.getUserByUsername(username);
    if (!user) return this.hasher.verifyAgainstNothing(password).then(() => null);
    const ok = await this.hasher.verify(password, user.passwordHash);
    if (!ok || !user.isActive) return null;
    if (this.hasher.needsRehash(user.passwordHash)) await this.rehash(user, password);
    return user;
  }

  /**
   * Stores an argon2id hash in place of an older one (scrypt, other parameters) once the
   * password is known to be right. Two logins doing this at once are harmless: each writes a
   * hash of the same password, and the compare-and-swap lets only the first replace the old
   * hash (nor one replace a password changed meanwhile). Best effort: on a full hashing queue
   * or a store error the old hash stays and still verifies; the next login tries again.
   */
  private async rehash(user: UserRecord, password: string): Promise<void> {
    try {
      await this.store.replacePasswordHash(user.id, user.passwordHash, await this.hasher.hash(password));
    } catch {
      // Kept on purpose: the login itself succeeded.
    }
  }

  /**
   * Creates the configured admin on first start; never overwrites an existing account.
   * Instances starting at once on one database all succeed: the look-up only spares the
   * password hash on later starts, the conditional insert decides who creates.
   */
  async bootstrapAdmin(username: string | undefined, password: string | undefined): Promise<UserRecord | null> {
    if (!username || !password) return null;
    if (await this.store.getUserByUsername(username)) return null;
    const { created, user } = await this.store.createUserIfAbsent(await this.newUser({ username, password, role: 'admin' }));
    return created ? user : null;
  }
}
