/**
 * The user CLI as a user runs it: the built binary (`node dist/cli/bin.js`) against a real
 * server on a real socket. Login keeps only a refresh token (0600) and rotates it; a directory
 * tree uploads as folders that `ls` shows; downloads come back byte for byte, resume from a
 * partial file with Range, and refuse bytes whose SHA-256 is wrong; share, zip, rm and mv;
 * --json output; exit codes 0 / 1 / 2.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../serve/serve-helpers.js';
import { cli, startCliWorld, type CliWorld } from './kit.js';

const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g;

describe('stream-line (user CLI)', () => {
  let w: CliWorld;
  let password: string;

  beforeAll(async () => {
    w = await startCliWorld();
    password = await w.addUser('carol');
  });
  afterAll(async () => w?.close());

  it('login keeps only a refresh token, mode 0600, and the next command rotates it', async () => {
    const h = await w.home();
    const login = await cli(['login', '--server', w.base, '--username', 'carol', '--password-stdin'], h.env, { input: `${password}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe(`logged in to ${w.base} as carol (operator)\n`);
    expect(login.stdout + login.stderr).not.toContain(password);

    const file = path.join(h.configDir, 'credentials');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(h.configDir)).mode & 0o777).toBe(0o700);
    const first = await fs.readFile(file, 'utf8');
    expect(first).not.toContain(password);
    const saved = JSON.parse(first);
    expect(saved).toEqual({ default: w.base, servers: { [w.base]: { username: 'carol', refresh_token: expect.any(String) } } });
    // The one token kept is a refresh token; no access token anywhere in the file.
    const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
    expect([...first.matchAll(JWT)].map((m) => claims(m[0]).type)).toEqual(['refresh']);

    // No --server: the last login's; the refresh token is spent and its successor saved.
    const ls = await cli(['ls', '--json'], h.env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual({ folder: '', folders: [], files: [] });
    const second = JSON.parse(await fs.readFile(file, 'utf8'));
    expect(second.servers[w.base].refresh_token).not.toBe(saved.servers[w.base].refresh_token);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const again = await cli(['ls'], h.env);
    expect(again.code, again.stderr).toBe(0);

    // A wrong password: 1, and the saved login is untouched.
    const wrong = await cli(['login', '--username', 'carol', '--password-stdin'], h.env, { input: 'not-the-password\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^stream-line: .+/);
    expect(JSON.parse(await fs.readFile(file, 'utf8')).servers[w.base].username).toBe('carol');

    // logout revokes the session on the server and forgets it here.
    const logout = await cli(['logout'], h.env);
    expect(logout.code, logout.stderr).toBe(0);
    expect(JSON.parse(await fs.readFile(file, 'utf8')).servers).toEqual({});
    const after = await cli(['ls', '--server', w.base], h.env);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('not logged in');
  });

  it('exit codes: 2 for usage errors, 1 for failures; --json errors are JSON', async () => {
    const h = await w.home();
    const token = await w.server.tokenFor('erin');
    const env = { ...h.env, STREAM_LINE_URL: w.base, STREAM_LINE_TOKEN: token };
    const service = { ...h.env, STREAM_LINE_URL: w.base, STREAM_LINE_SERVICE_TOKEN: w.server.serviceToken };
    const [none, unknown, noPaths, badFlag, badParallel, noUser, missing, mv, notLoggedIn, asService, serviceNoUser] = await Promise.all([
      cli([], env),
      cli(['frobnicate'], env),
      cli(['upload'], env),
      cli(['ls', '--bogus'], env),
      cli(['upload', '.', '--parallel', '0'], env),
      cli(['login', '--password-stdin'], env),
      cli(['download', 'storage/erin/00000000000000000000000000000000_x.txt', '--json'], env),
      cli(['mv', 'storage/erin/a_b.txt', 'elsewhere/'], env),
      cli(['ls'], { ...h.env, STREAM_LINE_URL: w.base }),
      cli(['ls', '--json', '--user', 'erin'], service),
      cli(['ls'], service),
    ]);
    for (const r of [none, unknown, noPaths, badFlag, badParallel, noUser, serviceNoUser]) expect(r.code, r.stderr).toBe(2);
    expect(asService.code, asService.stderr).toBe(0);
    expect(JSON.parse(asService.stdout)).toEqual({ folder: '', folders: [], files: [] });
    expect(serviceNoUser.stderr).toContain('STREAM_LINE_USER_ID');
    expect(none.stderr).toContain('usage: stream-line <command>');
    expect(unknown.stderr).toContain('unknown command: frobnicate');
    expect(badFlag.stderr).toContain("Unknown option '--bogus'");
    expect(badParallel.stderr).toContain('--parallel');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toEqual({ error: { message: expect.any(String), code: 'file_not_found', status: 404 } });
    expect(mv.code).toBe(1); // not a key of erin's: the server's refusal, said plainly
    expect(mv.stderr).toMatch(/^stream-line: .*key/i);
    expect(notLoggedIn.code).toBe(1);
    expect(notLoggedIn.stderr).toContain(`not logged in to ${w.base}`);
    // The admin commands are still reached through the same binary.
    const admin = await cli(['users', 'list'], { ...env, UPLOAD_ROOT: w.server.root, AUTH_SERVICE_TOKEN: w.server.serviceToken, UPLOAD_SIGNING_KEY: w.server.signingKey, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: w.base });
    expect(admin.code, admin.stderr).toBe(0);
    expect(admin.stdout).toMatch(/\tcarol\toperator\tactive\n/);
  });

  it('uploads a tree as folders, lists it, downloads it back (resumed, checked), shares, zips and deletes', async () => {
    const h = await w.home();
    const token = await w.server.tokenFor('frank');
    const env = { ...h.env, STREAM_LINE_URL: w.base, STREAM_LINE_TOKEN: token };
    const tree = path.join(h.env.HOME!, 'tree');
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await fs.mkdir(path.join(tree, 'sub', 'deeper'), { recursive: true });
    await fs.writeFile(path.join(tree, 'a.txt'), 'hello\n');
    await fs.writeFile(path.join(tree, 'sub', 'b.bin'), big);
    await fs.writeFile(path.join(tree, 'sub', 'deeper', 'c.txt'), 'deep\n');

    const up = await cli(['upload', 'tree', '--folder', 'up', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const uploaded = JSON.parse(up.stdout).uploaded as Array<{ path: string; key: string; folder: string; filename: string; size: number }>;
    expect(uploaded.map((u) => [u.path, u.folder, u.filename, u.size]).sort()).toEqual([
      ['tree/a.txt', 'up/tree', 'a.txt', 6],
      ['tree/sub/b.bin', 'up/tree/sub', 'b.bin', big.length],
      ['tree/sub/deeper/c.txt', 'up/tree/sub/deeper', 'c.txt', 5],
    ]);
    const keyOf = (name: string) => uploaded.find((u) => u.filename === name)!.key;
    expect(await fs.readdir(path.join(h.stateDir, 'uploads')).catch(() => [])).toEqual([]);
    // A second a.txt in the same folder (another id): downloaded beside the first, not over it.
    await fs.mkdir(path.join(h.env.HOME!, 'other'));
    await fs.writeFile(path.join(h.env.HOME!, 'other', 'a.txt'), 'second\n');
    const again = await cli(['upload', 'other/a.txt', '--folder', 'up/tree'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^other\/a\.txt -> storage\/frank\/up\/tree\/\w+_a\.txt\n1 uploaded \(7 B\)\n$/);

    const lsUp = JSON.parse((await cli(['ls', 'up', '--json'], env)).stdout);
    expect(lsUp.folders).toEqual([{ name: 'tree', path: 'up/tree', file_count: 4, total_size: big.length + 18 }]);
    expect(lsUp.files).toEqual([]);
    const lsTree = await cli(['ls', 'up/tree'], env);
    expect(lsTree.code).toBe(0);
    expect(lsTree.stdout).toMatch(/^2 files .* sub\/$/m);
    expect(lsTree.stdout).toMatch(/^6 B .* a\.txt +storage\/frank\/up\/tree\/\S+_a\.txt$/m);

    const dl = await cli(['download', 'up/tree', '--out', 'dl'], env);
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stdout).toContain('4 downloaded');
    const twins = [await fs.readFile(path.join(h.env.HOME!, 'dl', 'a.txt'), 'utf8'), await fs.readFile(path.join(h.env.HOME!, 'dl', 'a (2).txt'), 'utf8')];
    expect(twins.sort()).toEqual(['hello\n', 'second\n']);
    expect((await fs.readFile(path.join(h.env.HOME!, 'dl', 'sub', 'b.bin'))).equals(big)).toBe(true);
    expect(await fs.readFile(path.join(h.env.HOME!, 'dl', 'sub', 'deeper', 'c.txt'), 'utf8')).toBe('deep\n');

    // A partial file from an earlier run: only the rest is fetched (through the proxy, to see the Range).
    const viaProxy = { ...env, STREAM_LINE_URL: w.proxy.url };
    await fs.writeFile(path.join(h.env.HOME!, 'resumed.bin.part'), big.subarray(0, 1_000_000));
    w.proxy.reset();
    const resumed = await cli(['download', keyOf('b.bin'), '--out', 'resumed.bin'], viaProxy);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await fs.readFile(path.join(h.env.HOME!, 'resumed.bin'))).equals(big)).toBe(true);
    expect(w.proxy.requests.filter((r) => r.url.startsWith('/storage/')).map((r) => r.range)).toEqual(['bytes=1000000-']);
    // A partial file with wrong bytes: the SHA-256 check refuses the result, nothing is left.
    const bad = Buffer.from(big.subarray(0, 1_000_000));
    bad[10] = bad[10]! ^ 0xff;
    await fs.writeFile(path.join(h.env.HOME!, 'bad.bin.part'), bad);
    const refused = await cli(['download', keyOf('b.bin'), '--out', 'bad.bin', '--json'], env);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).failed).toEqual([{ key: keyOf('b.bin'), error: expect.stringContaining('SHA-256'), code: 'download_checksum_mismatch' }]);
    await expect(fs.stat(path.join(h.env.HOME!, 'bad.bin'))).rejects.toThrow();

    const share = await cli(['share', keyOf('a.txt'), '--expires', '1h', '--json'], env);
    expect(share.code, share.stderr).toBe(0);
    const link = JSON.parse(share.stdout);
    expect(link.exp - Date.now() / 1000).toBeGreaterThan(3500);
    expect(await (await fetch(link.url)).text()).toBe('hello\n');
    expect((await cli(['share', keyOf('a.txt'), '--expires', 'soon'], env)).code).toBe(2);

    const zip = await cli(['zip', keyOf('a.txt'), keyOf('c.txt'), '--out', 'both.zip'], env);
    expect(zip.code, zip.stderr).toBe(0);
    expect((await readZip(path.join(h.env.HOME!, 'both.zip'))).map((e) => [e.name, e.size]).sort()).toEqual([
      ['up/tree/a.txt', 6],
      ['up/tree/sub/deeper/c.txt', 5],
    ]);

    // rm asks first: no answer (stdin at its end) deletes nothing.
    const unasked = await cli(['rm', keyOf('a.txt')], env);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toContain('-y');
    const no = await cli(['rm', keyOf('a.txt')], env, { input: 'n\n' });
    expect(no.code).toBe(1);
    const metadata = (key: string) => w.server.asBearer(token, { method: 'GET', url: `/v1/files/metadata/${key}` });
    expect((await metadata(keyOf('a.txt'))).statusCode).toBe(200);
    const rm = await cli(['rm', '-y', keyOf('a.txt'), 'storage/frank/00000000000000000000000000000000_gone.txt', '--json'], env);
    expect(rm.code).toBe(1);
    expect(JSON.parse(rm.stdout)).toEqual({ deleted: [keyOf('a.txt')], failed: [{ key: 'storage/frank/00000000000000000000000000000000_gone.txt', error: expect.any(String), code: 'file_not_found' }] });
    expect((await metadata(keyOf('a.txt'))).statusCode).toBe(404);

    // mv: a file into another folder keeps its name; the old key is gone, the new one reads.
    const mv = await cli(['mv', keyOf('c.txt'), 'moved/', '--json'], env);
    expect(mv.code, mv.stderr).toBe(0);
    const [moved] = JSON.parse(mv.stdout).moved as { from: string; to: string }[];
    expect(moved!.from).toBe(keyOf('c.txt'));
    expect(moved!.to).toMatch(/^storage\/frank\/moved\/[0-9a-f]+_c\.txt$/);
    expect((await metadata(moved!.from)).statusCode).toBe(404);
    expect((await metadata(moved!.to)).statusCode).toBe(200);
  });
});
