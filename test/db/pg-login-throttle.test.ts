/**
 * The login-failure throttle shared through PostgreSQL (src/db/pg/login-failures.ts): the
 * FailureCounts conformance suite (its races in task threads, each with its own pool), and two
 * SessionServices on one schema standing for two instances: a username's failures counted on
 * either are counted for both, so N instances do not give an attacker N budgets.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HashPool } from '../../src/auth/hash-pool.js';
import { KeySealer } from '../../src/auth/key-store-seal.js';
import { KeyRing } from '../../src/auth/keyring.js';
import { OWASP_ARGON2ID, PasswordHasher } from '../../src/auth/passwords.js';
import { SessionService } from '../../src/auth/sessions.js';
import { LoginThrottle } from '../../src/auth/throttle.js';
import { TokenSigner } from '../../src/auth/tokens.js';
import { UserService } from '../../src/auth/users.js';
import { openMetadataStore } from '../../src/db/open.js';
import { PgKeyStore } from '../../src/db/pg/key-store.js';
import { PgFailureCounts } from '../../src/db/pg/login-failures.js';
import type { PgMetadataStore } from '../../src/db/pg/store.js';
import { NotAuthenticated, RateLimited } from '../../src/errors/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { failureCountsConformance } from '../auth/failure-counts-conformance.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';

/** argon2id at 1 MiB: the tests' hashes cost milliseconds, not the production 19 MiB's ~50 ms. */
const CHEAP_HASHES = { ...OWASP_ARGON2ID, memoryKiB: 1024 };

const OPENER = new URL('../auth/tasks/pg-stores.mjs', import.meta.url).href;
const LIMIT = 3;

describePostgres('login failures in PostgreSQL', () => {
  failureCountsConformance(
    'PostgreSQL',
    async () => {
      const schema = await freshSchema('fail');
      const store = (await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 2 })) as PgMetadataStore;
      return {
        counts: new PgFailureCounts(store.pg),
        opener: { module: OPENER, options: { url: schema.url } },
        async cleanup() {
          await store.close();
          await schema.drop();
        },
      };
    },
    { shared: true },
  );

  describe('two instances on one database', () => {
    let schema: Awaited<ReturnType<typeof freshSchema>>;
    let stores: PgMetadataStore[];
    let hashPool: HashPool;
    let clock: ManualClock;
    let throttles: LoginThrottle[];
    let sessions: SessionService[];
    let username: string;

    beforeAll(() => {
      hashPool = new HashPool({ concurrency: 2, queue: 64 });
    });
    afterAll(async () => hashPool.close());

    // Each test: a fresh schema, user and instances (their in-memory per-address counts included).
    beforeEach(async () => {
      schema = await freshSchema('login');
      stores = await Promise.all([0, 1].map(() => openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 12 }) as Promise<PgMetadataStore>));
      clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
      const keysSecret = 'keys-' + randomBytes(16).toString('hex');
      username = `erin-${randomBytes(4).toString('hex')}`;
      throttles = [];
      sessions = [];
      for (const store of stores) {
        const users = new UserService(store.users, new PasswordHasher(hashPool, CHEAP_HASHES), store.tokens);
        const keys = await KeyRing.open({ store: new PgKeyStore(store.pg, new KeySealer(keysSecret)), alg: 'ES256', retentionSeconds: 3600 });
        const signer = new TokenSigner(keys, { issuer: 'https://issuer.test', audience: 'files', accessTtlSeconds: 900, refreshTtlSeconds: 3600 });
        const throttle = new LoginThrottle({ failuresPerWindow: LIMIT, now: () => clock.now(), counts: new PgFailureCounts(store.pg) });
        throttles.push(throttle);
        sessions.push(new SessionService(users, signer, store.tokens, throttle));
      }
      await new UserService(stores[0]!.users, new PasswordHasher(hashPool, CHEAP_HASHES), stores[0]!.tokens).create({ username, password: 'erin-Passw0rd!' });
    });
    afterEach(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await schema.drop();
    });

    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (err: unknown) => (err instanceof RateLimited ? 'limited' : err instanceof NotAuthenticated ? 'wrong' : `error: ${String(err)}`),
      );

    it('failures alternating between instances add up: the limit holds as if one instance had seen them all', async () => {
      const [a, b] = sessions as [SessionService, SessionService];
      for (let i = 0; i < LIMIT; i++) expect(await outcome((i % 2 ? b : a).login(username, `wrong-${i}`, '192.0.2.10'))).toBe('wrong');
      // Either instance now refuses this address for this username, even the right password…
      expect(await outcome(a.login(username, 'erin-Passw0rd!', '192.0.2.10'))).toBe('limited');
      await expect(b.login(username.toUpperCase(), 'erin-Passw0rd!', '192.0.2.10')).rejects.toMatchObject({ retryAfterSeconds: 60 });
      // …but not another address; and once the window has passed, this one again.
      expect(await outcome(b.login(username, 'erin-Passw0rd!', '192.0.2.20'))).toBe('ok');
      clock.advance(60_000);
      expect(await outcome(a.login(username, 'erin-Passw0rd!', '192.0.2.10'))).toBe('ok');
    });

    it('20 guesses sent at once, half to each instance: 3 are checked, 17 refused', async () => {
      const guesses = Array.from({ length: 20 }, (_, i) => outcome(sessions[i % 2]!.login(username, `guess-${i}`, '192.0.2.30')));
      const answers = await Promise.all(guesses);
      expect(answers.filter((x) => x === 'wrong')).toHaveLength(LIMIT);
      expect(answers.filter((x) => x === 'limited')).toHaveLength(20 - LIMIT);
    });

    it('a success on one instance clears the count another made; an abandoned attempt is taken back', async () => {
      const [a, b] = sessions as [SessionService, SessionService];
      for (let i = 0; i < LIMIT - 1; i++) expect(await outcome(a.login(username, `wrong-${i}`, '192.0.2.40'))).toBe('wrong');
      expect(await outcome(b.login(username, 'erin-Passw0rd!', '192.0.2.40'))).toBe('ok');
      for (let i = 0; i < LIMIT - 1; i++) expect(await outcome(a.login(username, `again-${i}`, '192.0.2.40'))).toBe('wrong');
      const attempt = await throttles[1]!.begin(username, '192.0.2.40'); // the last of the budget…
      await attempt.abandoned(); // …given back (the hashing queue was full)
      expect(await outcome(b.login(username, 'wrong-last', '192.0.2.40'))).toBe('wrong');
      expect(await outcome(a.login(username, 'erin-Passw0rd!', '192.0.2.40'))).toBe('limited');
    });

    it("a username guessed at from many addresses on one instance is slowed down on the other", async () => {
      const [a] = throttles as [LoginThrottle, LoginThrottle];
      for (let i = 0; i < LIMIT + 4; i++) await (await a.begin(username, `203.0.113.${i + 1}`)).failed();
      const onB = await throttles[1]!.begin(username, '198.51.100.1');
      expect(onB.delayMs).toBe(4 * 50); // 4 failures past the limit, 50 ms each
      await onB.succeeded();
    });

    it('housekeeping forgets ended windows, on whichever instance runs it', async () => {
      await outcome(sessions[0]!.login(username, 'wrong', '192.0.2.50'));
      const rows = async () => Number((await stores[0]!.pg.query<{ n: number }>('SELECT COUNT(*) AS n FROM login_failures')).rows[0]!.n);
      expect(await rows()).toBe(2); // (username, address) and username
      expect(await sessions[1]!.pruneLoginFailures(clock.now() + 59_999)).toBe(0);
      expect(await rows()).toBe(2);
      expect(await sessions[1]!.pruneLoginFailures(clock.now() + 60_000)).toBe(2);
      expect(await rows()).toBe(0);
    });
  });
});
