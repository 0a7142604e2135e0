// Checks for the deployment files in deploy/: the nginx template is rendered and
// validated (and exercised) by a real nginx, the systemd unit is verified, and
// deploy.sh --dry-run is run to make sure it changes nothing.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/process.js';
import { nginxRequest, nginxTest, renderInto, sh, startNginx, stopNginx, which, type Rendered, type Resp } from '../helpers/nginx.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = join(REPO, 'deploy');
const RENDER = join(DEPLOY, 'render-nginx.sh');
const DEPLOY_SH = join(DEPLOY, 'deploy.sh');
const UNIT = join(DEPLOY, 'upload-server.service');
const TEMPLATE = join(DEPLOY, 'nginx-file-server.conf');
const ENV_TEMPLATE = join(DEPLOY, 'upload.env.template');

const tmpDirs: string[] = [];
function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
describe('shell scripts', () => {
  const scripts = ['deploy.sh', 'render-nginx.sh', 'data-dir.sh', 'env-file.sh', 'stream-line-admin'];
  it.each(scripts)('bash -n %s', (name) => {
    const r = sh('bash', ['-n', join(DEPLOY, name)]);
    expect(r.status, r.stderr).toBe(0);
  });
  it.each(scripts.filter((n) => n.endsWith('.sh')))('%s --help prints its header comment only', (name) => {
    const r = sh('bash', [join(DEPLOY, name), '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage|usage|flag/);
    expect(r.stdout).not.toMatch(/set -euo pipefail|^#/m);
  });
});

// ---------------------------------------------------------------------------
describe('render-nginx.sh', () => {
  it('renders every placeholder and keeps the required directives', () => {
    const r = sh('bash', [RENDER, '--server-name', 'files.example.test'], {
      env: { ...process.env, UPLOAD_ROOT: '/srv/up/', MAX_BODY_MB: '1234' },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).not.toMatch(/__[A-Z0-9_]+__/);
    expect(out).toContain('server_name files.example.test;');
    expect(out).toContain('server 127.0.0.1:5070;');
    expect(out).toContain('client_max_body_size 1234m;');
    expect(out).toContain('alias /srv/up/;');
    expect(out).toMatch(/location \/_protected\/ \{\s*internal;/);
    expect(out).toContain('ssl_certificate     /etc/letsencrypt/live/files.example.test/fullchain.pem;');
    expect(out).toContain('listen 443 ssl;');
    expect(out).toContain('listen 80;');
    expect(out).toContain('return 308 https://$host$request_uri;');
    expect(out).toContain('location ^~ /.well-known/acme-challenge/');
    for (const d of [
      'proxy_request_buffering off;', 'proxy_buffering off;', 'proxy_http_version 1.1;',
      'proxy_set_header Connection "";', 'proxy_read_timeout 3600s;', 'proxy_send_timeout 3600s;',
      'client_body_timeout 3600s;', 'sendfile on;', 'tcp_nopush on;', 'keepalive 32;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Forwarded-Proto $scheme;', 'proxy_set_header X-Forwarded-Host $host;',
      'proxy_set_header X-Real-IP $remote_addr;', 'proxy_set_header Host $host;',
      'add_header Strict-Transport-Security',
      'location /v1/files {', 'location ~ ^/v1/files/batch-download/[^/]+$ {', 'location /storage/ {', 'location /get/ {',
    ]) {
      expect(out, d).toContain(d);
    }
    // aio threads is off unless asked for.
    expect(out).toMatch(/# aio threads;/);
    // Range must not be stripped anywhere.
    expect(out).not.toMatch(/proxy_set_header\s+(Range|If-Range)\s/);
  });

  it('derives the upstream from BIND_HOST/PORT and the redirect port from --listen-https', () => {
    const r = sh('bash', [RENDER, '--server-name', 'a.test', '--listen-https', '8443', '--aio-threads', 'on'], {
      env: { ...process.env, BIND_HOST: '0.0.0.0', PORT: '6000' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('server 127.0.0.1:6000;');
    expect(r.stdout).toContain('return 308 https://$host:8443$request_uri;');
    expect(r.stdout).toMatch(/^\s*aio threads;/m);
  });

  it.each([
    [['--upload-root', '/data'], 'missing server name'],
    [['--server-name', 'evil.test; include /etc/passwd'], 'nginx syntax injection'],
    [['--server-name', 'a.test', '--max-body-mb', '5g'], 'non-numeric body size'],
    [['--server-name', 'a.test', '--upload-root', 'relative/path'], 'relative upload root'],
    [['--server-name', 'a.test', '--accel-prefix', '/_protected'], 'prefix without trailing slash'],
    [['--server-name', 'a.test', '--bogus'], 'unknown flag'],
  ])('rejects bad input: %j (%s)', (args) => {
    const r = sh('bash', [RENDER, ...args], { env: { ...process.env, SERVER_NAME: '' } });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});

// ---------------------------------------------------------------------------
describe('nginx config', () => {
  it('passes nginx -t (aio off and on)', async () => {
    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    for (const aio of ['off', 'on']) {
      const rc = renderInto(tmp(`nginx-t-${aio}-`), ports, ['--aio-threads', aio]);
      const r = nginxTest(rc);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(/test is successful/);
    }
  });

  describe('running nginx in front of a fake app', () => {
    let rc: Rendered;
    let nginx: ChildProcess | undefined;
    let upstream: http.Server;
    const fileBytes = Buffer.alloc(256 * 1024);
    for (let i = 0; i < fileBytes.length; i++) fileBytes[i] = (i * 7 + (i >> 8)) & 0xff;
    // Upstream observations.
    const seen: Array<{ url: string; headers: http.IncomingHttpHeaders; bytes: number }> = [];
    let firstChunk: (() => void) | undefined;

    beforeAll(async () => {
      const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
      rc = renderInto(tmp('nginx-run-'), ports);
      mkdirSync(join(rc.uploadRoot, 'storage', 'user1', 'folder'), { recursive: true });
      writeFileSync(join(rc.uploadRoot, 'storage', 'user1', 'folder', 'abc_file.bin'), fileBytes);
      writeFileSync(join(rc.acmeRoot, '.well-known', 'acme-challenge', 'tok'), 'acme-ok');

      // The app's side of X-Accel-Redirect and of uploads.
      upstream = http.createServer((req, res) => {
        const url = req.url ?? '';
        if (url.startsWith('/storage/') || url.startsWith('/get/')) {
          seen.push({ url, headers: req.headers, bytes: 0 });
          res.writeHead(200, {
            'X-Accel-Redirect': '/_protected/storage/user1/folder/abc_file.bin',
            'Content-Type': 'application/x-test',
            'Content-Disposition': 'attachment; filename="file.bin"',
          });
          res.end('this body must be ignored by nginx');
          return;
        }
        const entry = { url, headers: req.headers, bytes: 0 };
        seen.push(entry);
        req.on('data', (c: Buffer) => {
          entry.bytes += c.length;
          firstChunk?.();
          firstChunk = undefined;
        });
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ bytes: entry.bytes }));
        });
      });
      await new Promise<void>((r) => upstream.listen(rc.upstreamPort, '127.0.0.1', r));

      nginx = await startNginx(rc);
    }, 30_000);

    afterAll(async () => {
      await stopNginx(nginx);
      await new Promise((r) => upstream?.close(r));
    });

    const request = (
      opts: { path: string; method?: string; headers?: Record<string, string | number>; tls?: boolean },
      write?: (req: http.ClientRequest) => void | Promise<void>,
    ): Promise<Resp> => nginxRequest(rc, opts, write);

    it('serves an X-Accel-Redirect download from UPLOAD_ROOT, keeping the app headers', async () => {
      const r = await request({ path: '/storage/user1/folder/abc_file.bin' });
      expect(r.status).toBe(200);
      expect(r.body.equals(fileBytes)).toBe(true);
      expect(r.headers['content-type']).toBe('application/x-test');
      expect(r.headers['content-disposition']).toBe('attachment; filename="file.bin"');
      expect(r.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['x-accel-redirect']).toBeUndefined();
      const fwd = seen.find((s) => s.url.startsWith('/storage/'));
      expect(fwd?.headers['x-forwarded-proto']).toBe('https');
      expect(fwd?.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(fwd?.headers['x-real-ip']).toBe('127.0.0.1');
      expect(fwd?.headers['x-forwarded-host']).toBe('localhost');
      expect(fwd?.headers.host).toBe('localhost');
    });

    it('passes Range through and answers 206 with the right bytes (also on /get/)', async () => {
      const r = await request({ path: '/get/some-token', headers: { Range: 'bytes=1000-1999' } });
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes 1000-1999/${fileBytes.length}`);
      expect(r.body.equals(fileBytes.subarray(1000, 2000))).toBe(true);
      const up = seen.filter((s) => s.url.startsWith('/get/')).at(-1);
      expect(up?.headers.range).toBe('bytes=1000-1999');

      // If-Range with a stale validator: full body, not a partial one.
      const stale = await request({
        path: '/get/some-token',
        headers: { Range: 'bytes=0-9', 'If-Range': '"not-the-etag"' },
      });
      expect(stale.status).toBe(200);
      expect(stale.body.length).toBe(fileBytes.length);
    });

    it('does not expose the internal location directly', async () => {
      const r = await request({ path: '/_protected/storage/user1/folder/abc_file.bin' });
      expect(r.status).toBe(404);
    });

    it('streams uploads to the app without buffering the request body', async () => {
      const half = Buffer.alloc(128 * 1024, 1);
      let resolveFirst!: () => void;
      const gotFirst = new Promise<void>((r) => (resolveFirst = r));
      firstChunk = resolveFirst;
      const r = await request(
        { path: '/v1/files/part', method: 'PUT', headers: { 'Content-Length': half.length * 2, 'Content-Type': 'application/octet-stream' } },
        async (req) => {
          req.write(half);
          // With request buffering the app would see nothing until the whole
          // body had arrived, so this would time out.
          await Promise.race([
            gotFirst,
            new Promise((_, rej) => setTimeout(() => rej(new Error('app saw no bytes before the body was complete: nginx is buffering')), 5_000)),
          ]);
          req.end(half);
        },
      );
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toEqual({ bytes: half.length * 2 });
    }, 20_000);

    it('rejects bodies over client_max_body_size with 413 before proxying', async () => {
      const before = seen.length;
      const r = await request(
        { path: '/v1/files/upload', method: 'POST', headers: { 'Content-Length': 3 * 1024 * 1024 } },
        (req) => {
          req.flushHeaders();
        },
      );
      expect(r.status).toBe(413);
      expect(seen.length).toBe(before);
    });

    it('redirects http to https but serves ACME challenges over http', async () => {
      const r = await request({ path: '/v1/files/x?y=1', tls: false });
      expect(r.status).toBe(308);
      expect(r.headers.location).toBe(`https://localhost:${rc.httpsPort}/v1/files/x?y=1`);
      const a = await request({ path: '/.well-known/acme-challenge/tok', tls: false });
      expect(a.status).toBe(200);
      expect(a.body.toString()).toBe('acme-ok');
    });
  });
});

// ---------------------------------------------------------------------------
describe('systemd unit', () => {
  // [Section] -> key -> values (a key may repeat).
  function parseUnit(text: string): Map<string, Map<string, string[]>> {
    const sections = new Map<string, Map<string, string[]>>();
    let cur: Map<string, string[]> | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith(';')) continue;
      const sec = /^\[(.+)\]$/.exec(line);
      if (sec) {
        cur = new Map();
        sections.set(sec[1]!, cur);
        continue;
      }
      const eq = line.indexOf('=');
      if (!cur || eq < 0) throw new Error(`unparseable unit line: ${raw}`);
      const k = line.slice(0, eq).trim();
      const v = line.slice(eq + 1).trim();
      cur.set(k, [...(cur.get(k) ?? []), v]);
    }
    return sections;
  }
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  const svc = unit.get('Service') ?? new Map<string, string[]>();
  const last = (k: string) => svc.get(k)?.at(-1);

  it('has the required directives', () => {
    expect(unit.has('Unit')).toBe(true);
    expect(unit.get('Install')?.get('WantedBy')).toContain('multi-user.target');
    const expected: Record<string, string> = {
      User: 'uploadsvc',
      WorkingDirectory: '/opt/upload-server',
      EnvironmentFile: '/etc/stream-line/upload.env',
      Environment: 'NODE_ENV=production',
      ExecStart: '/usr/bin/node /opt/upload-server/dist/main.js',
      Restart: 'on-failure',
      RestartSec: '2',
      LimitNOFILE: '65535',
      KillSignal: 'SIGTERM',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ReadWritePaths: '/data/uploads',
      PrivateTmp: 'yes',
      ProtectHome: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictSUIDSGID: 'yes',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      RestrictRealtime: 'yes',
      SystemCallArchitectures: 'native',
      CapabilityBoundingSet: '',
      UMask: '0027',
    };
    for (const [k, v] of Object.entries(expected)) expect(last(k), k).toBe(v);
  });

  it('gives the app longer to stop than its shutdown grace period', () => {
    const stop = Number(/^(\d+)s?$/.exec(last('TimeoutStopSec') ?? '')?.[1]);
    const env = readFileSync(ENV_TEMPLATE, 'utf8');
    const grace = Number(/^SHUTDOWN_GRACE_SECONDS=(\d+)$/m.exec(env)?.[1] ?? 25);
    expect(grace).toBe(25);
    expect(stop).toBeGreaterThan(grace);
    expect(stop).toBeLessThanOrEqual(grace + 30);
  });

  it('does not enable MemoryDenyWriteExecute (V8 JIT needs W+X memory)', () => {
    expect(last('MemoryDenyWriteExecute') ?? 'no').not.toMatch(/^(yes|true|1|on)$/i);
  });

  // systemd-analyze comes with Debian's systemd package (installed by pretest / .ci/run).
  it('passes systemd-analyze verify without warnings', () => {
    const analyze = which('systemd-analyze');
    expect(analyze, 'systemd-analyze not found: apt-get install systemd').toBeTruthy();
    const r = sh(analyze!, ['verify', UNIT]);
    expect(r.status, r.stderr).toBe(0);
    // verify exits 0 on unknown keys / bad values; they only show up as warnings.
    const warnings = r.stderr.split('\n').filter((l) => l.includes('upload-server.service'));
    expect(warnings, r.stderr).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
describe('upload.env.template', () => {
  it('matches the nginx template and the unit', () => {
    const env = readFileSync(ENV_TEMPLATE, 'utf8');
    const get = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(env)?.[1];
    expect(get('BIND_HOST')).toBe('127.0.0.1');
    expect(get('PORT')).toBe('5070');
    expect(get('TRUST_PROXY')).toBe('127.0.0.1');
    expect(get('ACCEL_REDIRECT_PREFIX')).toBe('/_protected/');
    expect(get('MAX_BODY_MB')).toBe('5120');
    expect(get('AUTH_SERVICE_TOKEN')).toBeDefined();
    expect(get('UPLOAD_SIGNING_KEY')).toBeDefined();
    expect(readFileSync(TEMPLATE, 'utf8')).toContain('location __ACCEL_PREFIX__ {');
  });
});

// ---------------------------------------------------------------------------
describe('deploy.sh', () => {
  const watched = [
    '/opt/upload-server',
    '/etc/stream-line',
    '/etc/stream-line/upload.env',
    '/etc/systemd/system/upload-server.service',
    '/etc/nginx/sites-available/upload-server.conf',
    '/etc/nginx/sites-enabled/upload-server.conf',
  ];

  it('--dry-run prints the steps and changes nothing', () => {
    const uploadRoot = join(tmp('deploy-dry-'), 'not-created');
    const before = watched.map((p) => existsSync(p));
    const userBefore = sh('getent', ['passwd', 'uploadsvc']).status;
    const r = sh('bash', [DEPLOY_SH, '--dry-run', '--server-name', 'example.test', '--upload-root', uploadRoot]);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/useradd/);
    expect(r.stdout).toMatch(/systemctl enable --now upload-server/);
    expect(r.stdout).toMatch(/systemctl daemon-reload/);
    expect(r.stdout).toMatch(/nginx -t/);
    expect(r.stdout).toMatch(/npm ci/);
    expect(r.stdout).toMatch(/env-file\.sh --template .* --env-file \/etc\/stream-line\/upload\.env/);
    // F-03: the data root is laid out for nginx's group by data-dir.sh, never 0750 service-only.
    expect(r.stdout).toMatch(new RegExp(`data-dir\\.sh --upload-root ${uploadRoot} --owner uploadsvc --files-group \\S+`));
    expect(r.stdout).not.toMatch(/install -d -m 0750 -o uploadsvc -g uploadsvc/);
    // Issue #11: the admin command and the first TLS stage.
    expect(r.stdout).toContain('/usr/local/bin/stream-line-admin');
    expect(r.stdout).toContain(uploadRoot);
    expect(watched.map((p) => existsSync(p))).toEqual(before);
    expect(existsSync(uploadRoot)).toBe(false);
    expect(sh('getent', ['passwd', 'uploadsvc']).status).toBe(userBefore);
  });

  it('the default dry run does not create /opt/upload-server', () => {
    const existed = existsSync('/opt/upload-server');
    const r = sh('bash', [DEPLOY_SH, '--dry-run', '--server-name', 'example.test']);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/useradd/);
    expect(r.stdout).toMatch(/systemctl enable/);
    expect(r.stdout).toMatch(/nginx -t/);
    if (!existed) expect(existsSync('/opt/upload-server')).toBe(false);
    if (!existsSync('/data/uploads')) expect(r.stdout).toContain('/data/uploads');
  });

  it('--help exits 0; a missing --server-name or unknown flag exits non-zero', () => {
    const help = sh('bash', [DEPLOY_SH, '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--server-name/);
    expect(help.stdout).toMatch(/--dry-run/);
    expect(sh('bash', [DEPLOY_SH, '--dry-run']).status).not.toBe(0);
    expect(sh('bash', [DEPLOY_SH, '--dry-run', '--server-name', 'a.test', '--nope']).status).not.toBe(0);
    expect(sh('bash', [DEPLOY_SH, '--dry-run', '--server-name', 'a.test', '--upload-root', 'rel']).status).not.toBe(0);
  });
});
