/** Refresh-token families and access-token revocation, in SQLite. */
import type Database from 'better-sqlite3';
import type { RefreshTokenRow, RotateOutcome, TokenStore } from './types.js';

export class SqliteTokenStore implements TokenStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      checkToken: db.prepare(
        `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?) AS revoked,
                (SELECT is_active FROM users WHERE id = ?) AS active`,
      ),
      revokeJti: db.prepare('INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING'),
      insertFamily: db.prepare('INSERT INTO refresh_families (id, user_id, created_at) VALUES (?, ?, ?)'),
      insertRefresh: db.prepare(
        'INSERT INTO refresh_tokens (jti, family_id, access_jti, expires_at) VALUES (@jti, @familyId, @accessJti, @expiresAt)',
      ),
      refreshByJti: db.prepare(
        `SELECT t.family_id, t.used_at, t.expires_at, f.revoked_at FROM refresh_tokens t
         JOIN refresh_families f ON f.id = t.family_id WHERE t.jti = ?`,
      ),
      spendRefresh: db.prepare('UPDATE refresh_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL'),
      revokeFamilyById: db.prepare('UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      // Every access token issued with a token of the family dies with it. A refresh token
      // outlives its access token, so its expiry is a safe bound for the revocation row.
      revokeFamilyAccess: db.prepare(
        `INSERT INTO revoked_tokens (jti, expires_at) SELECT access_jti, expires_at FROM refresh_tokens WHERE family_id = ?
         ON CONFLICT (jti) DO NOTHING`,
      ),
      familiesOfUser: db.prepare('SELECT id FROM refresh_families WHERE user_id = ? AND revoked_at IS NULL').pluck(),
      familyOfRefresh: db.prepare('SELECT family_id FROM refresh_tokens WHERE jti = ?').pluck(),
      familyOfAccess: db.prepare('SELECT family_id FROM refresh_tokens WHERE access_jti = ?').pluck(),
      pruneRevoked: db.prepare('DELETE FROM revoked_tokens WHERE expires_at < ?'),
      pruneRefresh: db.prepare('DELETE FROM refresh_tokens WHERE expires_at < ?'),
      pruneFamilies: db.prepare(
        'DELETE FROM refresh_families WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id)',
      ),
    };
  }

  async createRefreshFamily(row: RefreshTokenRow, now: number): Promise<void> {
    this.db.transaction(() => {
      this.q.insertFamily.run(row.familyId, row.userId, now);
      this.q.insertRefresh.run(row);
    })();
  }

  async rotateRefreshToken(oldJti: string, next: RefreshTokenRow, now: number): Promise<RotateOutcome> {
    return this.db.transaction((): RotateOutcome => {
      const current = this.q.refreshByJti.get(oldJti) as
        | { family_id: string; used_at: number | null; expires_at: number; revoked_at: number | null }
        | undefined;
      if (!current) return 'unknown';
      if (current.revoked_at !== null) return 'revoked';
      if (current.used_at !== null) {
        this.revokeFamilyRows(current.family_id, now);
        return 'reused';
      }
      this.q.spendRefresh.run(now, oldJti);
      this.q.insertRefresh.run({ ...next, familyId: current.family_id });
      return 'rotated';
    })();
  }

  async revokeFamily(ref: { refreshJti?: string; accessJti?: string }, now: number): Promise<void> {
    const families = [
      ref.refreshJti ? (this.q.familyOfRefresh.get(ref.refreshJti) as string | undefined) : undefined,
      ref.accessJti ? (this.q.familyOfAccess.get(ref.accessJti) as string | undefined) : undefined,
    ];
    this.db.transaction(() => {
      for (const id of families) if (id) this.revokeFamilyRows(id, now);
    })();
  }

  async revokeUserSessions(userId: string, now: number): Promise<void> {
    this.db.transaction(() => {
      for (const id of this.q.familiesOfUser.all(userId) as string[]) this.revokeFamilyRows(id, now);
    })();
  }

  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    this.q.revokeJti.run(jti, expiresAt);
  }

  async checkToken(jti: string, userId: string): Promise<{ revoked: boolean; userDisabled: boolean }> {
    const row = this.q.checkToken.get(jti, userId) as { revoked: number; active: number | null };
    return { revoked: row.revoked === 1, userDisabled: row.active === 0 };
  }

  async pruneTokens(now: number): Promise<number> {
    return this.db.transaction(() => {
      const a = this.q.pruneRevoked.run(now).changes;
      const b = this.q.pruneRefresh.run(now).changes;
      this.q.pruneFamilies.run();
      return a + b;
    })();
  }

  private revokeFamilyRows(familyId: string, now: number): void {
    this.q.revokeFamilyById.run(now, familyId);
    this.q.revokeFamilyAccess.run(familyId);
  }
}
