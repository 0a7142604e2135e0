/** Refresh-token families and access-token revocation, in SQLite. */
import type Database from 'better-sqlite3';
import type { RefreshTokenRow, Role, RotateResult, TokenStatus, TokenStore } from './types.js';
import type { RefreshRow } from './rows.js';

export class SqliteTokenStore implements TokenStore {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      checkToken: db.prepare(
        `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?) AS revoked, u.is_active AS active, u.role AS role
         FROM (SELECT 1) LEFT JOIN users u ON u.id = ?`,
      ),
      revokeJti: db.prepare(
        `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
         ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE excluded.expires_at > revoked_tokens.expires_at`,
      ),
      insertFamily: db.prepare('INSERT INTO refresh_families (id, user_id, created_at) VALUES (?, ?, ?)'),
      insertRefresh: db.prepare(
        `INSERT INTO refresh_tokens (jti, family_id, access_jti, issued_at, expires_at, access_expires_at)
         VALUES (@jti, @familyId, @accessJti, @issuedAt, @expiresAt, @accessExpiresAt)`,
      ),
      refreshByJti: db.prepare(
        `SELECT t.*, f.revoked_at, f.user_id FROM refresh_tokens t
         JOIN refresh_families f ON f.id = t.family_id WHERE t.jti = ?`,
      ),
      // The spend is the decision: it changes the row only while the token is unspent and its
      // family alive, so of concurrent presentations exactly one sees a change (and rotates).
      spendRefresh: db.prepare(
        `UPDATE refresh_tokens SET used_at = @now, replaced_by = @next
         WHERE jti = @old AND used_at IS NULL
           AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)`,
      ),
      // The successor joins the family of the token it replaces (read in the same statement).
      insertSuccessor: db.prepare(
        `INSERT INTO refresh_tokens (jti, family_id, access_jti, issued_at, expires_at, access_expires_at)
         SELECT @jti, family_id, @accessJti, @issuedAt, @expiresAt, @accessExpiresAt FROM refresh_tokens WHERE jti = @old`,
      ),
      revokeFamilyById: db.prepare('UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      // Every access token issued with a token of the family dies with it, for as long as it
      // could be accepted (rows from before migration 5 only know the refresh expiry, a later bound).
      revokeFamilyAccess: db.prepare(
        `INSERT INTO revoked_tokens (jti, expires_at)
         SELECT access_jti, COALESCE(access_expires_at, expires_at) FROM refresh_tokens WHERE family_id = ?
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

  async rotateRefreshToken(oldJti: string, next: RefreshTokenRow, now: number, graceSeconds: number): Promise<RotateResult> {
    return this.db.transaction((): RotateResult => {
      // Write first, read after: a transaction that starts by writing takes the write lock
      // before it reads anything, so what it reads next is current.
      if (this.q.spendRefresh.run({ now, next: next.jti, old: oldJti }).changes === 1) {
        this.q.insertSuccessor.run({ ...next, old: oldJti });
        return { outcome: 'rotated' };
      }
      const current = this.q.refreshByJti.get(oldJti) as RefreshRow | undefined;
      if (!current) return { outcome: 'unknown' };
      // An unspent token whose spend changed nothing belongs to a revoked family.
      if (current.revoked_at !== null || current.used_at === null) return { outcome: 'revoked' };
      const successor = current.replaced_by ? (this.q.refreshByJti.get(current.replaced_by) as RefreshRow | undefined) : undefined;
      const withinGrace = now - current.used_at < graceSeconds; // 0 turns the window off
      if (withinGrace && successor && successor.used_at === null && successor.issued_at !== null && successor.access_expires_at !== null) {
        return {
          outcome: 'replayed',
          successor: {
            jti: successor.jti,
            familyId: successor.family_id,
            userId: successor.user_id,
            accessJti: successor.access_jti,
            issuedAt: successor.issued_at,
            expiresAt: successor.expires_at,
            accessExpiresAt: successor.access_expires_at,
          },
        };
      }
      this.revokeFamilyRows(current.family_id, now);
      return { outcome: 'reused' };
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

  async revokeAccessToken(id: string, expiresAt: number): Promise<void> {
    this.q.revokeJti.run(id, expiresAt);
  }

  async checkToken(revocationId: string, userId: string): Promise<TokenStatus> {
    const row = this.q.checkToken.get(revocationId, userId) as { revoked: number; active: number | null; role: string | null };
    return { revoked: row.revoked === 1, userDisabled: row.active === 0, role: row.active === null ? null : (row.role as Role) };
  }

  async pruneTokens(before: number): Promise<number> {
    return this.db.transaction(() => {
      const a = this.q.pruneRevoked.run(before).changes;
      const b = this.q.pruneRefresh.run(before).changes;
      this.q.pruneFamilies.run();
      return a + b;
    })();
  }

  private revokeFamilyRows(familyId: string, now: number): void {
    this.q.revokeFamilyById.run(now, familyId);
    this.q.revokeFamilyAccess.run(familyId);
  }
}
