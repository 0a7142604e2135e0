/**
 * The CLI (`node dist/cli.js`) over the same UPLOAD_ROOT as a server: users add / list /
 * disable / enable and keys rotate, with the same validation as the HTTP routes.
 */
import fs from 'node:fs/promises';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, testEnv, type TestServer } from '../helpers/app.js';
import { runNode } from '../config/run-dist.js';

describe('cli', () => {
  let root: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runNode('cli.js', args, env, root);

  beforeAll(async () => {
    root = await tempDir('sl-cli-');
    env = testEnv(root);
  });
  afterAll(async () => fs.rm(root, { recursive: true, force: true }));

  it('adds, lists and disables users, rotates keys; a server on the same root agrees', async () => {
    const add = await cli('users', 'add', 'alice', '--role', 'viewer', '--password', 'alice-password-1', '--email', 'alice@example.com');
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout.trim())).toMatchObject({ username: 'alice', role: 'viewer', email: 'alice@example.com', is_active: true });
    expect(add.stdout).not.toMatch(/alice-password-1|scrypt/);

    const list = await cli('users', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/\talice\tviewer\tactive\n/);
    expect(list.stdout).toMatch(/\tadmin\tadmin\tactive\n/);

    // While the user is active, a server on this root lets her in.
    let s: TestServer = await startTestServer(env, root);
    expect((await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'alice-password-1' } })).statusCode).toBe(200);
    const firstKid = decodeProtectedHeader(await s.tokenFor('someone')).kid;
    await s.close();

    const disable = await cli('users', 'disable', 'alice');
    expect(disable.code).toBe(0);
    expect(disable.stdout).toBe('disabled alice\n');
    expect((await cli('users', 'list')).stdout).toMatch(/\talice\tviewer\tdisabled\n/);

    const rotate = await cli('keys', 'rotate');
    expect(rotate.code).toBe(0);
    const newKid = /^new active key: ([A-Za-z0-9_-]{43})\n$/.exec(rotate.stdout)?.[1];
    expect(newKid).toBeDefined();
    expect(newKid).not.toBe(firstKid);

    s = await startTestServer(env, root);
    try {
      const refused = await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'alice-password-1' } });
      expect(refused.statusCode).toBe(401);
      const jwks = (await s.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid);
      expect(jwks.sort()).toEqual([firstKid, newKid].sort());
      expect(decodeProtectedHeader(await s.adminToken()).kid).toBe(newKid);

      // Enabling from the CLI reaches the running server at once.
      expect((await cli('users', 'enable', 'ALICE')).stdout).toBe('enabled alice\n');
      expect((await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'alice-password-1' } })).statusCode).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('generates and prints a password when none is given', async () => {
    const add = await cli('users', 'add', 'bruno');
    expect(add.code, add.stderr).toBe(0);
    const password = /generated password: (\S+)\n/.exec(add.stdout)?.[1];
    expect(password).toBeDefined();
    expect(JSON.parse(add.stdout.split('\n')[0]!)).toMatchObject({ username: 'bruno', role: 'operator' });
    const s = await startTestServer(env, root);
    try {
      expect((await s.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'bruno', password } })).statusCode).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('refuses bad input: exit 1 and one line on stderr saying what was wrong', async () => {
    const cases: [string, string[], RegExp][] = [
      ['a short password', ['users', 'add', 'carla', '--password', 'short'], /--password/],
      ['a bad username', ['users', 'add', 'bad name', '--password', 'password-123'], /username/],
      ['an unknown role', ['users', 'add', 'carla', '--role', 'root', '--password', 'password-123'], /--role/],
      ['a bad email', ['users', 'add', 'carla', '--email', 'nope', '--password', 'password-123'], /--email/],
      ['a taken username', ['users', 'add', 'ALICE', '--password', 'password-123'], /already taken/],
      ['an unknown user', ['users', 'disable', 'nobody'], /not found/i],
      ['an unknown option', ['users', 'add', 'carla', '--rol', 'viewer'], /rol/],
    ];
    // Independent processes: run side by side to keep the suite fast.
    const results = await Promise.all(cases.map(([, args]) => cli(...args)));
    cases.forEach(([name, , message], i) => {
      const r = results[i]!;
      expect(r.code, name).toBe(1);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, `${name}: ${r.stderr}`).toHaveLength(1);
      expect(lines[0], name).toMatch(message);
    });
  });

  it('created nothing for the refused commands', async () => {
    const list = (await cli('users', 'list')).stdout;
    expect(list).not.toMatch(/\tcarla\t|\tbad name\t/);
    expect(list.match(/\talice\t/g)).toHaveLength(1);
  });

  it('prints usage (exit 2) for an unknown command and names a bad variable (exit 1)', async () => {
    const [usage, badPort] = await Promise.all([cli('frobnicate'), runNode('cli.js', ['users', 'list'], { ...env, PORT: 'abc' }, root)]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage:');
    expect(badPort.code).toBe(1);
    expect(badPort.stderr.trim().split('\n')).toHaveLength(1);
    expect(badPort.stderr).toContain('PORT');
  });
});
