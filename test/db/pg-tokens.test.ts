/**
 * Refresh tokens on PostgreSQL, racing another instance's revocation (beyond the conformance
 * suite, whose workers all call one method): a rotation and a logout (revokeFamily) or a
 * "disable this user" (revokeUserSessions) of the same family, started together in two worker
 * threads with their own pools (pg-race-worker.mjs). Whoever wins, the family ends revoked and
 * a successor recorded beside the revocation is revoked with it, its access token included:
 * what a check-then-write rotation (SQLite's EXISTS on the family, without the row lock) lets
 * slip through when the successor commits between the revocation's two statements.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore } from '../../src/db/types.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { refreshTokenOf } from './fixtures.js';
import { label, raceScripts, type Outcome, type Step } from './parallel.js';

const ROUNDS = 300;

const row = refreshTokenOf;


describePostgres('PostgreSQL: a rotation racing a revocation of its family on another instance', () => {
  let store: MetadataStore;
  let databaseUrl: string;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    const schema = await freshSchema('tok');
    databaseUrl = schema.url;
    drop = schema.drop;
    store = await openMetadataStore({ databaseUrl });
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  /** After the race of round i: everything of family i is revoked, whoever won. */
  async function expectFamilyEnded(i: number, rotation: Outcome): Promise<void> {
    if (!rotation.ok) throw new Error(`round ${i}: the rotation threw ${label(rotation)}`);
    const [result] = rotation.value as [{ outcome: string }];
    expect(['rotated', 'revoked']).toContain(result.outcome);
    expect((await store.tokens.checkToken(`a${i}`, `u${i}`)).revoked, `round ${i}: first access token`).toBe(true);
    if (result.outcome === 'rotated') {
      expect((await store.tokens.checkToken(`a${i}-next`, `u${i}`)).revoked, `round ${i}: the successor's access token`).toBe(true);
      expect((await store.tokens.rotateRefreshToken(`t${i}-next`, row(`t${i}-x`, '', `u${i}`, `a${i}-x`), 1002, 0)).outcome).toBe('revoked');
    }
  }

  for (const [name, revoke] of [
    ['logout (revokeFamily by refresh jti)', (i: number): Step => ['tokens.revokeFamily', { refreshJti: `t${i}` }, 1001]],
    ['a disabled user (revokeUserSessions)', (i: number): Step => ['tokens.revokeUserSessions', `u${i}`, 1001]],
  ] as const) {
    it(`${name}: the family ends revoked, a successor recorded beside it included`, async () => {
      for (let i = 0; i < ROUNDS; i++) await store.tokens.createRefreshFamily(row(`t${i}`, `f${i}`, `u${i}`, `a${i}`), 1000);
      const rotations = Array.from({ length: ROUNDS }, (_, i): Step[] => [['tokens.rotateRefreshToken', `t${i}`, row(`t${i}-next`, '', `u${i}`, `a${i}-next`), 1001, 0]]);
      const revocations = Array.from({ length: ROUNDS }, (_, i): Step[] => [revoke(i)]);
      const [rotated, revoked] = await raceScripts(databaseUrl, [rotations, revocations]);
      for (let i = 0; i < ROUNDS; i++) {
        expect(label(revoked![i]!), `round ${i}: the revocation`).toBe('ok');
        await expectFamilyEnded(i, rotated![i]!);
      }
      // Both orders happened: the race was a race.
      const outcomes = new Set(rotated!.map((o) => (o.ok ? (o.value as [{ outcome: string }])[0].outcome : label(o))));
      expect(outcomes).toEqual(new Set(['rotated', 'revoked']));
    });
  }
});
