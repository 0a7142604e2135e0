/**
 * The steps deploy.sh delegates, run for real against temporary paths (issue #11's deploy
 * items): the env file with a generated admin password, the HTTP-only first stage that lets
 * certbot get a certificate on a fresh host, the unit's systemd-analyze exposure, and the
 * render options behind F-15 and the per-address connection cap.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nginxRequest, nginxTest, renderInto, sh, startNginx, stopNginx, which } from '../helpers/nginx.js';
import { freePort } from '../helpers/process.js';

const DEPLOY = resolve('deploy');
const ENV_FILE_SH = join(DEPLOY, 'env-file.sh');
const RENDER = join(DEPLOY, 'render-nginx.sh');

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const envValue = (file: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1];

describe('env-file.sh: a strong admin password in the 0600 env file, announced once', () => {
  const run = (envFile: string) =>
    sh('bash', [ENV_FILE_SH, '--template', join(DEPLOY, 'upload.env.template'), '--env-file', envFile, '--upload-root', '/data/uploads', '--server-name', 'files.example.test']);

  it('creates the file 0600 with fresh secrets and an admin password, and says where it is (not what)', () => {
    const envFile = join(tmp('envfile-'), 'upload.env');
    const first = run(envFile);
    expect(first.status, first.stderr).toBe(0);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const password = envValue(envFile, 'ADMIN_PASSWORD')!;
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/); // 24 random bytes
    expect(envValue(envFile, 'ADMIN_USERNAME')).toBe('admin');
    expect(envValue(envFile, 'AUTH_SERVICE_TOKEN')).toMatch(/^[0-9a-f]{64}$/);
    expect(envValue(envFile, 'UPLOAD_SIGNING_KEY')).toMatch(/^[0-9a-f]{64}$/);
    expect(envValue(envFile, 'UPLOAD_ROOT')).toBe('/data/uploads');
    expect(envValue(envFile, 'PUBLIC_BASE_URL')).toBe('https://files.example.test');
    expect(readFileSync(envFile, 'utf8')).not.toContain('__');
    expect(first.stdout).toContain(`generated into ${envFile} (ADMIN_PASSWORD)`);
    expect(first.stdout).not.toContain(password);

    // Once: a second run changes nothing and announces nothing.
    const before = readFileSync(envFile, 'utf8');
    const second = run(envFile);
    expect(second.status, second.stderr).toBe(0);
    expect(readFileSync(envFile, 'utf8')).toBe(before);
    expect(second.stdout).not.toMatch(/ADMIN_PASSWORD/);
  });

  it('adds a password to an env file from an older deploy.sh, keeping every other value', () => {
    const envFile = join(tmp('envfile-old-'), 'upload.env');
    writeFileSync(envFile, 'UPLOAD_ROOT=/srv/x\nAUTH_SERVICE_TOKEN=keep-this-token-123456\n', { mode: 0o644 });
    const r = run(envFile);
    expect(r.status, r.stderr).toBe(0);
    expect(envValue(envFile, 'UPLOAD_ROOT')).toBe('/srv/x');
    expect(envValue(envFile, 'AUTH_SERVICE_TOKEN')).toBe('keep-this-token-123456');
    expect(envValue(envFile, 'ADMIN_PASSWORD')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(r.stdout).toMatch(/generated into/);
  });
});

describe('TLS on a fresh host: the HTTP-only first stage', () => {
  let nginx: ChildProcess | undefined;
  afterAll(async () => stopNginx(nginx));

  it('the full site cannot load without its certificate, the first stage can, and it serves the ACME webroot only', async () => {
    const dir = tmp('acme-stage-');
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    const missing = ['--tls-cert', join(dir, 'none.pem'), '--tls-key', join(dir, 'none.key')];
    const full = renderInto(dir, ports, missing);
    expect(nginxTest(full).status).not.toBe(0);

    const stage = renderInto(dir, ports, [...missing, '--stage', 'acme']);
    const t = nginxTest(stage);
    expect(t.status, t.stderr).toBe(0);
    expect(readFileSync(stage.siteConf, 'utf8')).not.toMatch(/ssl_certificate|proxy_pass/);
    writeFileSync(join(stage.acmeRoot, '.well-known', 'acme-challenge', 'tok'), 'acme-ok');
    nginx = await startNginx(stage, stage.httpPort);
    const challenge = await nginxRequest(stage, { path: '/.well-known/acme-challenge/tok', tls: false });
    expect(challenge.status).toBe(200);
    expect(challenge.body.toString()).toBe('acme-ok');
    const other = await nginxRequest(stage, { path: '/v1/files?sig=abc', tls: false });
    expect(other.status).toBe(503);
    expect(JSON.parse(other.body.toString())).toMatchObject({ code: 'tls_not_ready' });
  });

  it('deploy.sh --dry-run without a certificate installs the first stage, runs certbot, then the TLS site', () => {
    const r = sh('bash', [join(DEPLOY, 'deploy.sh'), '--dry-run', '--server-name', 'files.example.test www.example.test', '--email', 'ops@example.test',
      '--upload-root', join(tmp('deploy-dry-'), 'data')]);
    expect(r.status, r.stderr).toBe(0);
    const acme = r.stdout.indexOf('--stage acme');
    const certbot = r.stdout.indexOf('certbot certonly --webroot -w /var/www/letsencrypt');
    const site = r.stdout.lastIndexOf('render-nginx.sh');
    expect(acme).toBeGreaterThan(0);
    expect(certbot).toBeGreaterThan(acme);
    expect(site).toBeGreaterThan(certbot);
    expect(r.stdout).toContain('-d files.example.test -d www.example.test --email ops@example.test');
    expect(r.stdout).toContain('--cert-name files.example.test');
  });

  it('never runs certbot for certificate paths given by hand or with --no-certbot', () => {
    for (const extra of [['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'], ['--no-certbot']]) {
      const r = sh('bash', [join(DEPLOY, 'deploy.sh'), '--dry-run', '--server-name', 'files.example.test', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).not.toContain('certbot certonly');
      expect(r.stderr).toMatch(/TLS certificate\/key not found/);
    }
  });
});

describe('render-nginx.sh options for the log and the connection cap', () => {
  it('writes the site access log in the redacted format, and --max-conn-per-address 0 turns the cap off', () => {
    const on = sh('bash', [RENDER, '--server-name', 'a.test', '--access-log', '/var/log/x.log', '--max-conn-per-address', '64']);
    expect(on.status, on.stderr).toBe(0);
    expect(on.stdout.match(/^\s*access_log \/var\/log\/x\.log stream_line_redacted;/gm)).toHaveLength(2);
    expect(on.stdout.match(/^\s*limit_conn stream_line_conn_per_address 64;/gm)).toHaveLength(2);
    const off = sh('bash', [RENDER, '--server-name', 'a.test', '--max-conn-per-address', '0']);
    expect(off.stdout).not.toMatch(/^\s*limit_conn stream_line_conn_per_address/m);
  });

  it.each([
    ['--access-log', 'relative.log'],
    ['--max-conn-per-address', '-1'],
    ['--max-conn-per-address', 'many'],
    ['--accel-prefix', '/_pro.tected/'],
    ['--stage', 'tls'],
  ])('rejects %s %s', (flag, value) => {
    const r = sh('bash', [RENDER, '--server-name', 'a.test', flag, value]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('systemd unit exposure', () => {
  // 3.2 before this change (861177d); ProtectProc=invisible and PrivateMounts=yes bring it to 2.9.
  it('systemd-analyze security scores no worse than 2.9', () => {
    const analyze = which('systemd-analyze');
    expect(analyze, 'systemd-analyze not found: apt-get install systemd').toBeTruthy();
    const r = sh(analyze!, ['security', '--offline=true', join(DEPLOY, 'upload-server.service')]);
    const score = Number(/Overall exposure level for upload-server\.service: ([\d.]+)/.exec(r.stdout + r.stderr)?.[1]);
    expect(score, r.stdout + r.stderr).toBeLessThanOrEqual(2.9);
  });
});
