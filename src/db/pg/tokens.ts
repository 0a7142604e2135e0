/**
 * TokenStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgTokenStore implements T.TokenStore {
  constructor(private readonly db: PgClient) {}

  async createRefreshFamily(_row: T.RefreshTokenRow, _now: number): Promise<void> {
    throw new Error('PgStore.tokens.createRefreshFamily: not written yet');
  }

  async rotateRefreshToken(_oldJti: string, _next: T.RefreshTokenRow, _now: number, _graceSeconds: number): Promise<T.RotateResult> {
    throw new Error('PgStore.tokens.rotateRefreshToken: not written yet');
  }

  async revokeFamily(_ref: { refreshJti?: string; accessJti?: string }, _now: number): Promise<void> {
    throw new Error('PgStore.tokens.revokeFamily: not written yet');
  }

  async revokeAccessToken(_id: string, _expiresAt: number): Promise<void> {
    throw new Error('PgStore.tokens.revokeAccessToken: not written yet');
  }

  async revokeUserSessions(_userId: string, _now: number): Promise<void> {
    throw new Error('PgStore.tokens.revokeUserSessions: not written yet');
  }

  async checkToken(_revocationId: string, _userId: string): Promise<T.TokenStatus> {
    throw new Error('PgStore.tokens.checkToken: not written yet');
  }

  async pruneTokens(_before: number): Promise<number> {
    throw new Error('PgStore.tokens.pruneTokens: not written yet');
  }
}
