/**
 * TokenStore.revokeFamily: logout ends the session a refresh token or an access token belongs
 * to (every refresh token of that family, every access token issued with one), and nothing
 * else. Part of metadataConformance.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore, RefreshTokenRow } from '../../src/db/types.js';
import { refreshTokenOf } from './fixtures.js';

const row = (jti: string, familyId: string, accessJti: string, userId = 'vu'): RefreshTokenRow => refreshTokenOf(jti, familyId, userId, accessJti);

export function revocationConformance(store: () => MetadataStore): void {
  describe('revokeFamily', () => {
    /** A family whose first pair (r1, a1) was rotated to (r2, a2), and an unrelated family. */
    async function twoFamilies(s: MetadataStore, p: string): Promise<void> {
      await s.tokens.createRefreshFamily(row(`${p}r1`, `${p}f1`, `${p}a1`), 1000);
      expect(await s.tokens.rotateRefreshToken(`${p}r1`, row(`${p}r2`, '', `${p}a2`), 1001, 0)).toEqual({ outcome: 'rotated' });
      await s.tokens.createRefreshFamily(row(`${p}o1`, `${p}f2`, `${p}oa1`), 1000);
    }

    async function expectFamilyEnded(s: MetadataStore, p: string): Promise<void> {
      for (const a of [`${p}a1`, `${p}a2`]) expect((await s.tokens.checkToken(a, 'vu')).revoked, a).toBe(true);
      expect(await s.tokens.rotateRefreshToken(`${p}r2`, row(`${p}r3`, '', `${p}a3`), 1003, 10)).toEqual({ outcome: 'revoked' });
      // The other family lives on.
      expect((await s.tokens.checkToken(`${p}oa1`, 'vu')).revoked).toBe(false);
      expect(await s.tokens.rotateRefreshToken(`${p}o1`, row(`${p}o2`, '', `${p}oa2`), 1003, 10)).toEqual({ outcome: 'rotated' });
    }

    it('by refresh jti (even a spent one): the whole family and its access tokens', async () => {
      const s = store();
      await twoFamilies(s, 'x-');
      await s.tokens.revokeFamily({ refreshJti: 'x-r1' }, 1002);
      await expectFamilyEnded(s, 'x-');
    });

    it('by access jti (logout with the access token alone)', async () => {
      const s = store();
      await twoFamilies(s, 'y-');
      await s.tokens.revokeFamily({ accessJti: 'y-a2' }, 1002);
      await expectFamilyEnded(s, 'y-');
    });

    it('both references may name two families; unknown references and repeats change nothing', async () => {
      const s = store();
      await s.tokens.createRefreshFamily(row('z-r1', 'z-f1', 'z-a1'), 1000);
      await s.tokens.createRefreshFamily(row('z-r2', 'z-f2', 'z-a2'), 1000);
      await s.tokens.createRefreshFamily(row('z-r3', 'z-f3', 'z-a3'), 1000);
      await s.tokens.revokeFamily({ refreshJti: 'nope', accessJti: 'nope' }, 1001);
      await s.tokens.revokeFamily({}, 1001);
      for (const a of ['z-a1', 'z-a2', 'z-a3']) expect((await s.tokens.checkToken(a, 'vu')).revoked).toBe(false);
      await s.tokens.revokeFamily({ refreshJti: 'z-r1', accessJti: 'z-a2' }, 1002);
      await s.tokens.revokeFamily({ refreshJti: 'z-r1' }, 1003); // again: harmless
      expect((await s.tokens.checkToken('z-a1', 'vu')).revoked).toBe(true);
      expect((await s.tokens.checkToken('z-a2', 'vu')).revoked).toBe(true);
      expect((await s.tokens.checkToken('z-a3', 'vu')).revoked).toBe(false);
      expect((await s.tokens.rotateRefreshToken('z-r2', row('z-r9', '', 'z-a9'), 1004, 10)).outcome).toBe('revoked');
    });
  });
}
