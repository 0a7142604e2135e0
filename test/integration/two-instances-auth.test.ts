/**
 * SPEC "Scale-out", any request may reach any instance — sessions, keys, throttling and
 * housekeeping on two real instances sharing one PostgreSQL schema (test/helpers/cluster.ts):
 * a refresh token spent on both at once, a logout on one seen by the other, a key rotation
 * reaching both within 60 s, one login-failure budget for both, and one sweeper at a time.
 *
 * A rotation reaches a running instance two ways: its key ring re-reads the store once its
 * refresh interval (60 s) has passed, or at once when it meets a token signed by a key it does
 * not know. The second is checked every run (A restarts, signs with the new key, and B takes
 * A's token); the first waits out up to 60 s of real time, so it runs with SL_TEST_SLOW=1 (the
 * interval itself is checked on a ManualClock by the key ring's own tests).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { call, claimsOf, within, type Reply } from './two-instances-kit.js';

const LIMIT = 4; // LOGIN_RATE_LIMIT: failures per (username, address) per minute
const GRACE = 1; // REFRESH_REUSE_GRACE_SECONDS
const METRICS_TOKEN = 'metrics-' + 'm'.repeat(24);
const SLOW = process.env.SL_TEST_SLOW === '1';

describePostgres('two instances: sessions, keys, throttling, housekeeping', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster({
      LOGIN_RATE_LIMIT: String(LIMIT),
      REFRESH_REUSE_GRACE_SECONDS: String(GRACE),
      METRICS_TOKEN,
      // Uploads expire after 1 s idle and housekeeping ticks every second (its floor).
      UPLOAD_EXPIRY_HOURS: '0.0003',
    });
  }, 60_000);
  afterAll(async () => c?.close());

  const login = (target: string, username: string, password: string, from = '198.51.100.1') =>
    call(c, target, 'POST', '/auth/login', { anonymous: true, json: { username, password }, headers: { 'x-forwarded-for': from } });
  const adminLogin = (target: string) => login(target, 'admin', c.env.ADMIN_PASSWORD!);
  const refresh = (target: string, token: string) => call(c, target, 'POST', '/auth/refresh', { anonymous: true, json: { refresh_token: token } });
  const me = (target: string, token: string) => call(c, target, 'GET', '/auth/me', { token });
  const jwksKids = async (target: string) => ((await call(c, target, 'GET', '/.well-known/jwks.json', { anonymous: true })).json().keys as { kid: string }[]).map((k) => k.kid);
  const ok = (r: Reply) => expect(r.status, r.body.toString()).toBe(200);

  it('both instances publish one JWKS and accept each other’s tokens', async () => {
    expect(await jwksKids(c.a.base)).toEqual(await jwksKids(c.b.base));
    const fromA = await adminLogin(c.a.base);
    ok(fromA);
    ok(await me(c.b.base, fromA.json().access_token));
    const fromB = await adminLogin(c.b.base);
    ok(await me(c.a.base, fromB.json().access_token));
    expect(claimsOf(fromA.json().access_token).header.kid).toBe(claimsOf(fromB.json().access_token).header.kid);
  });

  it('a refresh token spent on both instances at once has one winner; reuse after the grace window revokes the family', async () => {
    const first = await adminLogin(c.a.base);
    ok(first);
    const r0 = first.json().refresh_token as string;
    const both = await Promise.all([refresh(c.a.base, r0), refresh(c.b.base, r0)]);
    both.forEach(ok);
    // One successor: the loser is answered with the winner's pair (same jtis), not a second family branch.
    const [x, y] = both.map((r) => r.json());
    expect(claimsOf(x.refresh_token).payload.jti).toBe(claimsOf(y.refresh_token).payload.jti);
    expect(claimsOf(x.access_token).payload.jti).toBe(claimsOf(y.access_token).payload.jti);
    ok(await me(c.b.base, x.access_token));

    // Presented again, r0 is a replay while the grace lasts (same pair again), then a reuse.
    const reused = await within((GRACE + 3) * 1000, async () => {
      const again = await refresh(c.b.base, r0);
      if (again.status === 200) expect(claimsOf(again.json().refresh_token).payload.jti).toBe(claimsOf(x.refresh_token).payload.jti);
      else expect(again.status).toBe(401);
      return again.status === 401;
    }, 100);
    expect(reused, 'r0 was never refused').not.toBeNull();
    // The reuse revoked the whole family, on both instances.
    for (const base of [c.a.base, c.b.base]) {
      expect((await refresh(base, x.refresh_token)).status).toBe(401);
      expect((await me(base, x.access_token)).status).toBe(401);
    }
  });

  it('logout on A: the same access token is refused on B within 1 s', async () => {
    const session = (await adminLogin(c.a.base)).json();
    ok(await me(c.b.base, session.access_token)); // B has verified (and cached) it
    ok(await call(c, c.a.base, 'POST', '/auth/logout', { token: session.access_token, json: { refresh_token: session.refresh_token } }));
    const tookMs = await within(1_000, async () => (await me(c.b.base, session.access_token)).status === 401);
    expect(tookMs, 'B still accepted the token 1 s after logout on A').not.toBeNull();
    expect((await refresh(c.b.base, session.refresh_token)).status).toBe(401);
  });

  it('login failures for one username and address are counted once for both instances', async () => {
    const created = await call(c, c.a.base, 'POST', '/v1/admin/users', { json: { username: 'tess', password: 'tess-Passw0rd!' } });
    expect(created.status, created.body.toString()).toBe(201);
    const from = '192.0.2.44';
    // LIMIT wrong passwords, alternating instances: each instance alone has seen only half.
    for (let i = 0; i < LIMIT; i++) expect((await login(i % 2 ? c.b.base : c.a.base, 'tess', `wrong-${i}`, from)).status).toBe(401);
    for (const base of [c.a.base, c.b.base]) {
      const refused = await login(base, 'tess', 'wrong-again', from);
      expect(refused.status, `${refused.via}: ${refused.body}`).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await login(base, 'tess', 'tess-Passw0rd!', from)).status).toBe(429); // the pair is blocked, right password or not
    }
    ok(await login(c.b.base, 'tess', 'tess-Passw0rd!', '192.0.2.45')); // tess herself, from elsewhere

    // Guesses sent at once, half to each instance, still get LIMIT tries in all.
    const burstFrom = '192.0.2.46';
    const burst = await Promise.all(Array.from({ length: 4 * LIMIT }, (_, i) => login(i % 2 ? c.b.base : c.a.base, 'tess', `burst-${i}`, burstFrom)));
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * LIMIT);
  });

  it('housekeeping on both instances: each expired upload is swept once, by the lease holder, and the other takes over when it stalls', async () => {
    const idle = async (base: string, name: string) => {
      const r = await call(c, base, 'POST', '/v1/files/init', { json: { user_id: 'hk-u', mode: 'single', files: [{ name, size: 10 }] } });
      expect(r.status, r.body.toString()).toBe(201);
    };
    const expiredOn = async (base: string) => {
      const text = (await call(c, base, 'GET', '/metrics', { token: METRICS_TOKEN })).body.toString();
      return Number(/^uploads_total\{event="expired"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const openOn = async (base: string) => (await call(c, base, 'GET', '/v1/files/usage?user_id=hk-u')).json().open_uploads as number;

    await Promise.all(Array.from({ length: 6 }, (_, i) => idle(i % 2 ? c.b.base : c.a.base, `idle-${i}.bin`)));
    expect(await within(10_000, async () => (await openOn(c.a.base)) === 0, 100), 'the idle uploads were never swept').not.toBeNull();
    const counts = { A: await expiredOn(c.a.base), B: await expiredOn(c.b.base) };
    expect([counts.A, counts.B].sort()).toEqual([0, 6]); // one sweeper (the lease's holder), nothing counted twice

    // The holder stalls (SIGSTOP: alive, holding its lease, renewing nothing); the other takes
    // the lease once it lapses (3 ticks) and sweeps what expires meanwhile.
    const [holder, other] = counts.A ? [c.a, c.b] : [c.b, c.a];
    holder.child.kill('SIGSTOP');
    try {
      await Promise.all([0, 1, 2, 3].map((i) => idle(other.base, `later-${i}.bin`)));
      const tookMs = await within(10_000, async () => (await openOn(other.base)) === 0, 100);
      expect(tookMs, 'nobody swept while the lease holder was stalled').not.toBeNull();
      expect(await expiredOn(other.base)).toBe(4);
    } finally {
      holder.child.kill('SIGCONT');
    }
    expect(await expiredOn(holder.base)).toBe(6);
    expect((await call(c, holder.base, 'GET', '/v1/files/usage?user_id=hk-u')).json()).toMatchObject({ reserved_bytes: 0, open_uploads: 0 });
  });

  /** `keys rotate` from the CLI, beside the running instances: the new kid. */
  const rotate = (): string => {
    const rotated = c.cli(['keys', 'rotate']);
    expect(rotated.status, rotated.stderr).toBe(0);
    const kid = /new active key: (\S+)/.exec(rotated.stdout)?.[1];
    expect(kid).toBeTruthy();
    return kid!;
  };
  const signsWith = async (base: string, kid: string) => {
    const r = await adminLogin(base);
    return r.status === 200 && claimsOf(r.json().access_token).header.kid === kid;
  };
  /** Both instances publish `kid`, sign with it, and accept each other's new tokens. */
  async function bothUse(kid: string): Promise<void> {
    for (const base of [c.a.base, c.b.base]) expect(await jwksKids(base)).toContain(kid);
    const fromA = (await adminLogin(c.a.base)).json().access_token as string;
    const fromB = (await adminLogin(c.b.base)).json().access_token as string;
    expect([claimsOf(fromA).header.kid, claimsOf(fromB).header.kid]).toEqual([kid, kid]);
    ok(await me(c.b.base, fromA));
    ok(await me(c.a.base, fromB));
  }

  it.skipIf(!SLOW)('a rotation is used by both running instances within 60 s (their key rings’ refresh; SL_TEST_SLOW=1)', async () => {
    const kid = rotate();
    const tookMs = await within(61_000, async () => (await signsWith(c.a.base, kid)) && (await signsWith(c.b.base, kid)), 250);
    expect(tookMs, 'an instance still signed with the old key 60 s after the rotation').not.toBeNull();
    await bothUse(kid);
  }, 90_000);

  it('a rotation, then A restarts: A signs with the new key at once and B, meeting it, takes it up too', async () => {
    const kid = rotate();
    await c.restart('A');
    expect(await signsWith(c.a.base, kid)).toBe(true);
    const token = (await adminLogin(c.a.base)).json().access_token as string;
    // B re-reads the store on an unknown kid at most every 5 s: within that, A's token is accepted.
    const tookMs = await within(6_000, async () => (await me(c.b.base, token)).status === 200, 100);
    expect(tookMs, 'B never accepted a token signed with the new key').not.toBeNull();
    await bothUse(kid);
  });
});
