/**
 * Issue #11 (deploy): the installed admin command. `stream-line-admin` runs `dist/cli.js` from
 * the built files, as the service user, with the service's env file, so `keys rotate` never
 * leaves root-owned key files the service cannot read; and the built CLI needs no dev
 * dependency (deploy.sh prunes them).
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../helpers/nginx.js';
import { createSystemUser, removeSystemUser, requireRoot, type SystemUser } from './system-users.js';

const REPO = path.resolve('.');
const WRAPPER = path.join(REPO, 'deploy', 'stream-line-admin');

describe('stream-line-admin runs the built CLI as the service user', () => {
  let svc: SystemUser | undefined;
  let www: SystemUser | undefined;
  let dir: string;
  let root: string;
  let wrapper: string;
  let envFile: string;

  const admin = (args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) => sh('bash', [wrapper, ...args], { env });

  beforeAll(() => {
    requireRoot();
    svc = createSystemUser('slt-svc');
    www = createSystemUser('slt-www');
    dir = mkdtempSync(path.join(tmpdir(), 'sl-admin-'));
    chmodSync(dir, 0o711);
    root = path.join(dir, 'uploads');
    const laid = sh('bash', [path.join(REPO, 'deploy', 'data-dir.sh'), '--upload-root', root, '--owner', svc.name, '--files-group', www.group]);
    expect(laid.status, laid.stderr).toBe(0);

    envFile = path.join(dir, 'upload.env');
    writeFileSync(
      envFile,
      [
        '# as deploy/env-file.sh writes it',
        `UPLOAD_ROOT=${root}`,
        'AUTH_SERVICE_TOKEN=svc-token-0123456789abcdef',
        "UPLOAD_SIGNING_KEY='sign-key-0123456789abcdef'",
        'PUBLIC_CACHE_CONTROL="public, max-age=60"',
        'LOG_LEVEL=warn',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // deploy.sh installs the wrapper with these four lines rewritten (admin_sed).
    wrapper = path.join(dir, 'stream-line-admin');
    const text = readFileSync(WRAPPER, 'utf8')
      .replace(/^APP_DIR=.*$/m, `APP_DIR=${REPO}`)
      .replace(/^ENV_FILE=.*$/m, `ENV_FILE=${envFile}`)
      .replace(/^SERVICE_USER=.*$/m, `SERVICE_USER=${svc.name}`)
      .replace(/^NODE_BIN=.*$/m, `NODE_BIN=${process.execPath}`);
    writeFileSync(wrapper, text, { mode: 0o755 });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    removeSystemUser(svc);
    removeSystemUser(www);
  });

  it('keys rotate writes key files owned by the service user (mode 0600), not by root', () => {
    const r = admin(['keys', 'rotate']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/new active key: \S+/);
    const files = readdirSync(path.join(root, 'keys'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const st = statSync(path.join(root, 'keys', f));
      expect([f, st.uid, st.mode & 0o777]).toEqual([f, svc!.uid, 0o600]);
    }
  });

  it('manages users in the service database with the env file\'s settings, not the caller\'s', () => {
    const add = admin(['users', 'add', 'alice', '--role', 'operator', '--password', 'Alice-pass-123456789'], {
      PATH: process.env.PATH,
      UPLOAD_ROOT: path.join(dir, 'elsewhere'), // ignored: the env file decides
      NODE_ENV: 'development',
    });
    expect(add.status, add.stderr).toBe(0);
    const list = admin(['users', 'list']);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/\talice\toperator\tactive/);
    expect(statSync(path.join(root, 'metadata.sqlite')).uid).toBe(svc!.uid);
    expect(() => statSync(path.join(dir, 'elsewhere'))).toThrow();
  });

  it('refuses to run without root (it must read the 0600 env file)', () => {
    const r = sh('setpriv', ['--reuid', String(svc!.uid), '--regid', String(svc!.gid), '--clear-groups', 'bash', wrapper, 'users', 'list']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/run as root/);
  });
});

describe('the built CLI needs only production dependencies', () => {
  it('every package dist/cli.js imports (transitively) survives `npm prune --omit=dev`', () => {
    // What npm keeps without dev dependencies: the production tree, as deploy.sh leaves it.
    const ls = sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO });
    const kept = new Set(ls.stdout.split('\n').map((l) => path.relative(path.join(REPO, 'node_modules'), l.trim())));
    expect(kept.has('fastify')).toBe(true);
    expect(kept.has('vitest')).toBe(false);
    const builtins = new Set(builtinModules);
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      // import … from 'x' | import 'x' | export {…} / * from 'x' | import('x'), as tsc emits them.
      const specs =
        /^\s*(?:import\s+(?:[^;'"]*?\sfrom\s*)?|export\s+(?:\*|\{[^}]*\})\s*(?:as\s+\w+\s+)?from\s*)['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
      for (const m of src.matchAll(specs)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
        else if (!spec.startsWith('node:') && !builtins.has(spec)) {
          packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
    };
    visit(path.join(REPO, 'dist', 'cli.js'));
    expect(seen.size).toBeGreaterThan(10);
    expect(packages.size).toBeGreaterThan(0);
    for (const p of packages) expect(kept.has(p), p).toBe(true);
  });
});
