/**
 * Instances starting at once on one database bootstrap the same admin: all must start and
 * there must be one admin. Run with real parallelism: worker threads, one connection each,
 * every round started together at a barrier. (One refresh token presented at once is in the
 * metadata store's parallel conformance suite, test/db/parallel-conformance.ts.)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import type { MetadataStore, NewUser, UserRecord } from '../../src/db/types.js';
import { tempDir } from '../helpers/app.js';
import { label, runInWorkers } from '../db/parallel.js';
import { runTask, values } from './parallel-tasks.js';

const THREADS = 4;
const ROUNDS = 25;
const T0 = 1_700_000_000;

const newUser = (id: string, username: string): NewUser => ({
  id,
  username,
  email: null,
  passwordHash: 'h',
  role: 'admin',
  createdAt: new Date(T0 * 1000).toISOString(),
});

describe('the admin bootstrap on one SQLite file', () => {
  let root: string;
  let databaseUrl: string;
  let store: MetadataStore;
  beforeEach(async () => {
    root = await tempDir('sl-races-');
    databaseUrl = `sqlite:${path.join(root, 'metadata.sqlite')}`;
    store = await openMetadataStore({ databaseUrl });
  });
  afterEach(async () => {
    await store.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('createUserIfAbsent: creates once; a taken name (any case) gives its holder; a deleted user frees the name', async () => {
    const first = await store.users.createUserIfAbsent(newUser('id-1', 'Boot'));
    expect(first).toEqual({ created: true, user: expect.objectContaining({ id: 'id-1', username: 'Boot', role: 'admin', isActive: true }) });
    expect(await store.users.createUserIfAbsent({ ...newUser('id-2', 'boot'), role: 'viewer' })).toEqual({ created: false, user: first.user });
    expect(await store.users.getUserById('id-2')).toBeNull();
    await expect(store.users.createUser(newUser('id-3', 'BOOT'))).rejects.toMatchObject({ name: 'WrongState', code: 'username_taken' });
    await store.users.deleteUser('id-1');
    expect(await store.users.createUserIfAbsent(newUser('id-4', 'boot'))).toMatchObject({ created: true, user: { id: 'id-4' } });
  });

  it('createUserIfAbsent by every thread at once: one creates, all get the same user', async () => {
    const runs = await runInWorkers({
      databaseUrl,
      method: 'users.createUserIfAbsent',
      callsPerWorker: Array.from({ length: THREADS }, (_, w) => Array.from({ length: ROUNDS }, (_, r) => [newUser(`u${r}-by${w}`, `Name${r}`)])),
    });
    for (let r = 0; r < ROUNDS; r++) {
      const results = runs.map((run) => run.results[r]!);
      expect(results.map(label)).toEqual(Array(THREADS).fill('ok'));
      const values = results.map((o) => (o as { value: { created: boolean; user: UserRecord } }).value);
      expect(values.filter((v) => v.created)).toHaveLength(1);
      expect(new Set(values.map((v) => v.user.id)).size).toBe(1);
      expect(values[0]!.user).toMatchObject({ username: `Name${r}`, role: 'admin', isActive: true });
    }
    expect(await store.users.countUsers()).toBe(ROUNDS);
  });

  it('instances bootstrapping the same admin at once all start, and there is one admin', async () => {
    const names = Array.from({ length: 8 }, (_, r) => `admin${r}`);
    const created = values<(string | null | { error: string })[]>(
      await runTask(new URL('./tasks/bootstrap.mjs', import.meta.url), Array(THREADS).fill({ databaseUrl, names })),
    );
    for (let r = 0; r < names.length; r++) {
      const round = created.map((perThread) => perThread[r]);
      expect(round.filter((x) => typeof x === 'object' && x !== null)).toEqual([]); // no thread failed
      expect(round.filter((x) => typeof x === 'string')).toHaveLength(1);
    }
    const admins = (await store.users.listUsers()).filter((u) => u.role === 'admin');
    expect(admins.map((u) => u.username).sort()).toEqual([...names].sort());
  });
});
