/**
 * Refresh-token families and access-token revocation on PostgreSQL, shared by every instance.
 * READ COMMITTED transactions; what must not race is decided by a conditional write or a row
 * lock in the database:
 * - a refresh token is spent by one conditional UPDATE, so of concurrent presentations (on any
 *   instances) one changes the row and records a successor; the others re-read and replay it;
 * - a rotation locks its family's row before it spends and records, and a revocation updates
 *   that row first, so a revocation never misses a successor recorded beside it. Every writer
 *   takes the family's row before any token row, in one lock mode, so none of them deadlock.
 */
import type { RefreshTokenRow, Role, RotateResult, TokenStatus, TokenStore } from '../types.js';
import type { PgClient, Queryable } from './client.js';
import type { RefreshRow } from '../rows.js';

/** SQLSTATE foreign_key_violation. */
const FK_VIOLATION = '23503';

const SQL = {
  checkToken: `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1) AS revoked, u.is_active AS active, u.role AS role
               FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = $2`,
  revokeJti: `INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
              ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE excluded.expires_at > revoked_tokens.expires_at`,
  insertFamily: 'INSERT INTO refresh_families (id, user_id, created_at) VALUES ($1, $2, $3)',
  insertRefresh: `INSERT INTO refresh_tokens (jti, family_id, access_jti, issued_at, expires_at, access_expires_at)
                  VALUES ($1, $2, $3, $4, $5, $6)`,
  refreshByJti: `SELECT t.jti, t.family_id, t.access_jti, t.used_at, t.replaced_by, t.issued_at, t.expires_at, t.access_expires_at,
                        f.revoked_at, f.user_id
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.jti = $1`,
  // The spend is the decision: it changes the row only while the token is unspent and its
  // family alive. The family's row is locked first (the mode an UPDATE of it takes) and held to
  // the end: a concurrent spend of the same token waits there, then finds the token spent; a
  // revocation waits for the successor to be recorded, or runs first and this spend changes nothing.
  spendRefresh: `WITH alive AS (
                   SELECT f.id FROM refresh_families f
                   WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE jti = $1) AND f.revoked_at IS NULL
                   FOR NO KEY UPDATE
                 )
                 UPDATE refresh_tokens SET used_at = $2, replaced_by = $3
                 WHERE jti = $1 AND used_at IS NULL AND family_id IN (SELECT id FROM alive)`,
  // The successor joins the family of the token it replaces (read in the same statement).
  insertSuccessor: `INSERT INTO refresh_tokens (jti, family_id, access_jti, issued_at, expires_at, access_expires_at)
                    SELECT $2, family_id, $3, $4, $5, $6 FROM refresh_tokens WHERE jti = $1`,
  revokeFamilyById: 'UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL',
  // Locked in id order: two revocations of one user's sessions at once cannot deadlock.
  revokeFamiliesOfUser: `UPDATE refresh_families SET revoked_at = $2
                         WHERE id IN (SELECT id FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL
                                      ORDER BY id COLLATE "C" FOR NO KEY UPDATE)
                         RETURNING id`,
  // Every access token issued with a token of the family dies with it, for as long as it could
  // be accepted. A statement of its own, after the family's UPDATE: it then sees successors
  // that a rotation holding the family committed while that UPDATE waited.
  revokeFamilyAccess: `INSERT INTO revoked_tokens (jti, expires_at)
                       SELECT access_jti, COALESCE(access_expires_at, expires_at) FROM refresh_tokens WHERE family_id = ANY($1::text[])
                       ON CONFLICT (jti) DO NOTHING`,
  familyOfRefresh: 'SELECT family_id FROM refresh_tokens WHERE jti = $1',
  familyOfAccess: 'SELECT family_id FROM refresh_tokens WHERE access_jti = $1',
  pruneRevoked: 'DELETE FROM revoked_tokens WHERE expires_at < $1',
  pruneRefresh: 'DELETE FROM refresh_tokens WHERE expires_at < $1',
  pruneFamilies: 'DELETE FROM refresh_families f WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)',
};

const toRow = (r: RefreshRow): RefreshTokenRow => ({
  jti: r.jti,
  familyId: r.family_id,
  userId: r.user_id,
  accessJti: r.access_jti,
  issuedAt: r.issued_at!,
  expiresAt: r.expires_at,
  accessExpiresAt: r.access_expires_at!,
});

export class PgTokenStore implements TokenStore {
  constructor(private readonly db: PgClient) {}

  async createRefreshFamily(row: RefreshTokenRow, now: number): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query(SQL.insertFamily, [row.familyId, row.userId, now]);
      await c.query(SQL.insertRefresh, [row.jti, row.familyId, row.accessJti, row.issuedAt, row.expiresAt, row.accessExpiresAt]);
    });
  }

  async rotateRefreshToken(oldJti: string, next: RefreshTokenRow, now: number, graceSeconds: number): Promise<RotateResult> {
    return this.db.tx(async (c): Promise<RotateResult> => {
      const spent = await c.query(SQL.spendRefresh, [oldJti, now, next.jti]);
      if (spent.rowCount === 1) {
        await c.query(SQL.insertSuccessor, [oldJti, next.jti, next.accessJti, next.issuedAt, next.expiresAt, next.accessExpiresAt]);
        return { outcome: 'rotated' };
      }
      // A new statement: it sees what the winner of a concurrent spend committed (its successor).
      const current = (await c.query<RefreshRow>(SQL.refreshByJti, [oldJti])).rows[0];
      if (!current) return { outcome: 'unknown' };
      // An unspent token whose spend changed nothing belongs to a revoked family.
      if (current.revoked_at !== null || current.used_at === null) return { outcome: 'revoked' };
      const successor = current.replaced_by ? (await c.query<RefreshRow>(SQL.refreshByJti, [current.replaced_by])).rows[0] : undefined;
      const withinGrace = now - current.used_at < graceSeconds; // 0 turns the window off
      if (withinGrace && successor && successor.used_at === null && successor.issued_at !== null && successor.access_expires_at !== null) {
        return { outcome: 'replayed', successor: toRow(successor) };
      }
      await this.revokeFamilies(c, [current.family_id], now);
      return { outcome: 'reused' };
    });
  }

  async revokeFamily(ref: { refreshJti?: string; accessJti?: string }, now: number): Promise<void> {
    const family = async (sql: string, jti: string | undefined) =>
      jti === undefined ? [] : (await this.db.query<{ family_id: string }>(sql, [jti])).rows.map((r) => r.family_id);
    const ids = [...(await family(SQL.familyOfRefresh, ref.refreshJti)), ...(await family(SQL.familyOfAccess, ref.accessJti))];
    if (ids.length === 0) return;
    await this.db.tx((c) => this.revokeFamilies(c, ids, now));
  }

  async revokeUserSessions(userId: string, now: number): Promise<void> {
    await this.db.tx(async (c) => {
      const ids = (await c.query<{ id: string }>(SQL.revokeFamiliesOfUser, [userId, now])).rows.map((r) => r.id);
      if (ids.length > 0) await c.query(SQL.revokeFamilyAccess, [ids]);
    });
  }

  async revokeAccessToken(id: string, expiresAt: number): Promise<void> {
    await this.db.query(SQL.revokeJti, [id, expiresAt]);
  }

  async checkToken(revocationId: string, userId: string): Promise<TokenStatus> {
    const { rows } = await this.db.query<{ revoked: boolean; active: number | null; role: string | null }>(SQL.checkToken, [revocationId, userId]);
    const row = rows[0]!;
    return { revoked: row.revoked, userDisabled: row.active === 0, role: row.active === null ? null : (row.role as Role) };
  }

  /**
   * Three statements, each safe alone (housekeeping may run on several instances at once). A
   * family that a rotation is recording a successor into right now is kept until next time.
   */
  async pruneTokens(before: number): Promise<number> {
    const revoked = (await this.db.query(SQL.pruneRevoked, [before])).rowCount ?? 0;
    const refresh = (await this.db.query(SQL.pruneRefresh, [before])).rowCount ?? 0;
    await this.db.query(SQL.pruneFamilies).catch((err: unknown) => {
      if ((err as { code?: string }).code !== FK_VIOLATION) throw err;
    });
    return revoked + refresh;
  }

  /** Marks the families revoked (the row lock a rotation waits on), then revokes their access tokens. */
  private async revokeFamilies(c: Queryable, ids: string[], now: number): Promise<void> {
    for (const id of [...new Set(ids)].sort()) await c.query(SQL.revokeFamilyById, [id, now]); // in one order: no deadlock
    await c.query(SQL.revokeFamilyAccess, [ids]);
  }
}
