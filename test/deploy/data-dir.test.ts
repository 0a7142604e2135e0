/**
 * F-03: with the production layout (deploy/data-dir.sh, as deploy.sh runs it), the service
 * running as its own user with the unit's UMask, and nginx's workers running as a non-root
 * user, X-Accel-Redirect downloads work, and nginx's user can read nothing else under
 * UPLOAD_ROOT: not the database, the signing keys or the secrets.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxRequest, renderInto, sh, startNginx, stopNginx, type Rendered, type Resp } from '../helpers/nginx.js';
import { freePort } from '../helpers/process.js';
import { createSystemUser, removeSystemUser, requireRoot, spawnAs, type SystemUser } from './system-users.js';

const DATA_DIR_SH = path.resolve('deploy/data-dir.sh');
const UNIT = path.resolve('deploy/upload-server.service');

/** Every regular file under `root`, relative to it. */
function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(root, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

describe('F-03 nginx workers (non-root) read the files deploy.sh lays out, and nothing else', () => {
  let svc: SystemUser | undefined;
  let www: SystemUser | undefined;
  let dir: string;
  let root: string;
  let rc: Rendered;
  let nginx: ChildProcess | undefined;
  let app: ChildProcess | undefined;
  let appErr = '';
  let probePort: number;
  const token = 'svc-' + randomBytes(24).toString('hex');
  const keys: string[] = [];
  const bodies = new Map<string, Buffer>();

  const call = (opts: Parameters<typeof nginxRequest>[1], body?: Buffer | string): Promise<Resp> =>
    nginxRequest(rc, { ...opts, headers: { 'x-service-token': token, ...opts.headers } }, body === undefined ? undefined : (req) => void req.end(body));

  async function upload(name: string, data: Buffer): Promise<string> {
    const init = await call(
      { path: '/v1/files/init', method: 'POST', headers: { 'content-type': 'application/json' } },
      JSON.stringify({ mode: 'single', files: [{ name, size: data.length }], folder: 'docs', user_id: 'u1' }),
    );
    expect(init.status, init.body.toString()).toBe(201);
    const uploadId = JSON.parse(init.body.toString()).uploadId as string;
    const part = await call(
      { path: `/v1/files/part?uploadId=${uploadId}&partNumber=1`, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': data.length } },
      data,
    );
    expect(part.status, part.body.toString()).toBe(200);
    const done = await call({ path: '/v1/files/complete', method: 'POST', headers: { 'content-type': 'application/json' } }, JSON.stringify({ uploadId }));
    expect(done.status, done.body.toString()).toBe(201);
    const key = JSON.parse(done.body.toString()).key as string;
    bodies.set(key, data);
    return key;
  }

  beforeAll(async () => {
    requireRoot();
    svc = createSystemUser('slt-svc');
    www = createSystemUser('slt-www');
    dir = mkdtempSync(path.join(tmpdir(), 'sl-datadir-'));
    chmodSync(dir, 0o711); // like /data: others may pass through
    root = path.join(dir, 'uploads');

    const laid = sh('bash', [DATA_DIR_SH, '--upload-root', root, '--owner', svc.name, '--files-group', www.group]);
    expect(laid.status, laid.stderr).toBe(0);

    const ports = { https: await freePort(), http: await freePort(), upstream: await freePort() };
    probePort = await freePort();
    rc = renderInto(dir, ports, [], {
      uploadRoot: root,
      maxBodyMb: 64,
      workerUser: www.name,
      // A plain server over the whole data root: what nginx's user can read at all.
      extraHttp: [`server { listen 127.0.0.1:${probePort}; access_log off; location / { root ${root}; } }`],
    });

    // The service as the unit runs it: its own user, the unit's UMask, production-like env.
    const umask = /^UMask=(\d+)$/m.exec(readFileSync(UNIT, 'utf8'))?.[1];
    expect(umask).toBe('0027');
    app = spawnAs(svc, umask!, process.execPath, [path.resolve('dist/main.js')], {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'test', // not production: the admin password is generated into secrets/
      UPLOAD_ROOT: root,
      PORT: String(ports.upstream),
      BIND_HOST: '127.0.0.1',
      AUTH_SERVICE_TOKEN: token,
      UPLOAD_SIGNING_KEY: 'sig-' + randomBytes(24).toString('hex'),
      PASSWORD_ARGON2_MEMORY_KIB: '1024',
      ACCEL_REDIRECT_PREFIX: '/_protected/',
      TRUST_PROXY: '127.0.0.1',
      PUBLIC_BASE_URL: `https://localhost:${ports.https}`,
      LOG_LEVEL: 'warn',
    });
    app.stderr!.on('data', (d: Buffer) => (appErr += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${ports.upstream}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (app.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${appErr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    nginx = await startNginx(rc);

    keys.push(await upload('report.pdf', randomBytes(300_000)));
    // A 255-byte name: its file lives under .long/ (the key is too long for one entry).
    keys.push(await upload('中'.repeat(85), randomBytes(5_000)));
  }, 60_000);

  afterAll(async () => {
    await stopNginx(nginx);
    if (app && app.exitCode === null) {
      const exited = new Promise((r) => app!.once('exit', r));
      app.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    removeSystemUser(svc);
    removeSystemUser(www);
  });

  it('serves an X-Accel-Redirect download with nginx workers running as the nginx user', async () => {
    const ps = sh('ps', ['-o', 'user=', '--ppid', String(nginx!.pid)]);
    expect(ps.stdout.trim().split('\n')).toEqual([www!.name]);
    const key = keys[0]!;
    const r = await nginxRequest(rc, { path: '/' + encodePath(key) });
    expect(r.status, readFileSync(path.join(rc.dir, 'error.log'), 'utf8').slice(-500)).toBe(200);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(createHash('sha256').update(bodies.get(key)!).digest('hex'));
    const range = await nginxRequest(rc, { path: '/' + encodePath(key), headers: { range: 'bytes=10-19' } });
    expect(range.status).toBe(206);
    expect(range.body.equals(bodies.get(key)!.subarray(10, 20))).toBe(true);
    // The 255-byte name is sent from .long/ (X-Accel-Redirect: /_protected/.long/xx/<sha256>).
    const long = await nginxRequest(rc, { path: '/' + encodePath(keys[1]!) });
    expect(long.status).toBe(200);
    expect(long.body.equals(bodies.get(keys[1]!)!)).toBe(true);
  });

  it('nginx can read every stored object (storage/ and .long/) and nothing else under UPLOAD_ROOT', async () => {
    const files = walk(root);
    const objects = files.filter((f) => f.startsWith('storage/') || f.startsWith('.long/'));
    const others = files.filter((f) => !objects.includes(f));
    // What the app wrote beside the objects, each of which must stay unreadable for nginx.
    expect(others).toEqual(expect.arrayContaining(['metadata.sqlite', 'secrets/admin-password']));
    expect(others.some((f) => /^keys\/.+\.json$/.test(f))).toBe(true);
    expect(objects.some((f) => f.startsWith('.long/'))).toBe(true);
    expect(objects).toHaveLength(2);

    const probe = async (rel: string) =>
      (await fetch(`http://127.0.0.1:${probePort}/${encodePath(rel)}`)).status;
    for (const f of objects) expect([f, await probe(f)]).toEqual([f, 200]);
    for (const f of others) expect([f, await probe(f)]).toEqual([f, 403]);
  });

  it('gives new objects the nginx group through setgid directories, and the database the service group', () => {
    const key = keys[0]!;
    const st = statSync(path.join(root, key));
    expect(st.gid).toBe(www!.gid);
    expect(st.uid).toBe(svc!.uid);
    expect(st.mode & 0o777).toBe(0o640);
    const folder = statSync(path.dirname(path.join(root, key)));
    expect(folder.mode & 0o7777).toBe(0o2750);
    const db = statSync(path.join(root, 'metadata.sqlite'));
    expect(db.gid).toBe(svc!.gid);
    expect(db.mode & 0o007).toBe(0);
    expect(statSync(root).mode & 0o7777).toBe(0o710);
  });

  it('data-dir.sh is idempotent and repairs root-owned key files left by a CLI run as root', () => {
    const keyFile = walk(root).find((f) => f.startsWith('keys/'))!;
    sh('chown', ['root:root', path.join(root, keyFile)]);
    const again = sh('bash', [DATA_DIR_SH, '--upload-root', root, '--owner', svc!.name, '--files-group', www!.group]);
    expect(again.status, again.stderr).toBe(0);
    const st = statSync(path.join(root, keyFile));
    expect(st.uid).toBe(svc!.uid);
    expect(st.mode & 0o077).toBe(0);
    expect(statSync(path.join(root, 'keys')).mode & 0o7777).toBe(0o700);
  });

  it('data-dir.sh repairs a root laid out by the old deploy.sh (0750 service-only) on an update', () => {
    const old = path.join(dir, 'old-root');
    const as = (u: SystemUser, ...cmd: string[]) =>
      sh('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', ...cmd]);
    // What 861177d's deploy.sh and UMask=0027 left: everything uploadsvc:uploadsvc, 0750/0640.
    expect(sh('install', ['-d', '-m', '0750', '-o', svc!.name, '-g', svc!.group, old]).status).toBe(0);
    expect(as(svc!, 'sh', '-c', `umask 027; mkdir -p ${old}/storage/u1 ${old}/keys; echo obj > ${old}/storage/u1/a.bin; echo db > ${old}/metadata.sqlite`).status).toBe(0);
    sh('sh', ['-c', `echo key > ${old}/keys/k.json; chmod 600 ${old}/keys/k.json`]); // a root-run `keys rotate`
    expect(as(www!, 'cat', `${old}/storage/u1/a.bin`).status).not.toBe(0); // F-03 as it was

    const r = sh('bash', [DATA_DIR_SH, '--upload-root', old, '--owner', svc!.name, '--files-group', www!.group]);
    expect(r.status, r.stderr).toBe(0);
    const obj = as(www!, 'cat', `${old}/storage/u1/a.bin`);
    expect(obj.status, obj.stderr).toBe(0);
    expect(obj.stdout).toBe('obj\n');
    expect(as(www!, 'cat', `${old}/metadata.sqlite`).status).not.toBe(0);
    expect(as(www!, 'cat', `${old}/keys/k.json`).status).not.toBe(0);
    expect(as(svc!, 'cat', `${old}/keys/k.json`).status).toBe(0);
    expect(statSync(path.join(old, 'storage', 'u1')).mode & 0o7777).toBe(0o2750);
  });

  it('data-dir.sh refuses the service user\'s own group as the files group (nginx would read the database)', () => {
    const r = sh('bash', [DATA_DIR_SH, '--upload-root', root, '--owner', svc!.name, '--files-group', svc!.group]);
    expect(r.status).not.toBe(0);
  });
});
