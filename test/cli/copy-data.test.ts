/**
 * `cli copy-data`, run as the real process (dist/cli.js) on real stores: a SQLite + local-disk
 * deployment seeded through the ports, copied into PostgreSQL + another directory (and into
 * SQLite + a directory). Checked through the target's ports and a server started on it; then
 * a run killed mid-object and resumed, a damaged target object found and replaced, a source
 * object that no longer matches its record refused (exit 1), and the flags' usage errors.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../../src/db/open.js';
import { copyData } from '../../src/ops/copy-data.js';
import type { FileRecord, MetadataStore, UserRecord } from '../../src/db/types.js';
import { LocalDiskBlobStore } from '../../src/storage/local-disk.js';
import { startTestServer, tempDir, testEnv } from '../helpers/app.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { describeS3, freshS3, s3 } from '../helpers/s3.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { distPath, runNode } from '../config/run-dist.js';

const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true }))));

async function root(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  roots.push(dir);
  return dir;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** The server's own format (auth/passwords.ts), at a cheap cost. */
function passwordHash(password: string): string {
  const salt = randomBytes(16);
  return ['scrypt', 12, 8, 1, salt.toString('base64'), scryptSync(password, salt, 32, { N: 2 ** 12, r: 8, p: 1 }).toString('base64')].join('$');
}

const sqliteUrl = (dir: string): string => `sqlite:${path.join(dir, 'metadata.sqlite')}`;

interface Seeded {
  files: FileRecord[];
  bytes: Map<string, Buffer>;
  passwords: Record<string, string>;
}

/**
 * A deployment: three users (one disabled, one whose quota is now below what they store),
 * files in folders, an empty file, a 6 MiB file, a name long enough to be stored under a
 * digest on disk, a file of a user known only to an external issuer, one open upload.
 */
async function seed(dir: string, opts: { docs?: [string, number][] } = {}): Promise<Seeded> {
  const store = await openMetadataStore({ databaseUrl: sqliteUrl(dir) });
  const blobs = new LocalDiskBlobStore(dir);
  await blobs.init();
  const seeded: Seeded = { files: [], bytes: new Map(), passwords: { alice: 'alice-pw-1', bob: 'bob-pw-2', carol: 'carol-pw-3' } };
  try {
    const roles = { alice: 'operator', bob: 'viewer', carol: 'admin' } as const;
    for (const [name, role] of Object.entries(roles)) {
      await store.users.createUser({ id: `u-${name}`, username: name, email: name === 'carol' ? 'carol@example.test' : null, passwordHash: passwordHash(seeded.passwords[name]!), role, createdAt: '2025-02-03T04:05:06.789Z' });
    }
    await store.users.updateUser('u-bob', { isActive: false });
    const put = async (userId: string, folder: string, filename: string, body: Buffer): Promise<void> => {
      // Ids (and so keys, the copy's order) ascend in the order of creation.
      const id = seeded.files.length.toString(16).padStart(4, '0') + randomBytes(14).toString('hex');
      const key = ['storage', userId, ...(folder ? [folder] : []), `${id}_${filename}`].join('/');
      await blobs.writeObject(key, Readable.from([body]), { maxBytes: body.length });
      const file: FileRecord = { id, key, userId, folder, filename, size: body.length, mime: 'application/octet-stream', sha256: sha256(body), createdAt: new Date(Date.now() - 1000 * seeded.files.length).toISOString() };
      await store.files.insertFile(file, { userId, defaultQuotaBytes: 1e12 });
      seeded.files.push(file);
      seeded.bytes.set(key, body);
    };
    for (const [name, size] of opts.docs ?? [['a.txt', 3000], ['b.txt', 3000], ['c.txt', 3000]]) await put('u-alice', 'docs/2025', name, randomBytes(size));
    await put('u-alice', '', 'empty.txt', Buffer.alloc(0));
    await put('u-alice', 'video', 'big.bin', randomBytes(6 * 1024 * 1024 + 7));
    await put('u-bob', '', `${'long-'.repeat(49)}.txt`, randomBytes(100)); // {id}_{name}: 282 bytes, past NAME_MAX
    await put('ext-user@idp', 'x', 'external.bin', randomBytes(500));
    await store.users.updateUser('u-alice', { quotaBytes: 1000 });
    const now = Date.now();
    await store.uploads.createUploads(
      [{ id: 'open-upload-1', userId: 'u-carol', mode: 'chunked', filename: 'u.bin', folder: '', size: 10, mime: 'application/octet-stream', sha256: null, partSize: 5 << 20, partCount: 1, state: 'open', fileKey: null, blobRef: '', leaseUntil: null, createdAt: now, updatedAt: now }],
      { userId: 'u-carol', defaultQuotaBytes: 1e12 },
    );
  } finally {
    await store.close();
  }
  return seeded;
}

const run = (source: string, args: string[], env: Record<string, string> = {}) => runNode('cli.js', ['copy-data', ...args], testEnv(source, env), source);

const strip = (u: UserRecord) => ({ id: u.id, username: u.username, email: u.email, passwordHash: u.passwordHash, role: u.role, isActive: u.isActive, quotaBytes: u.quotaBytes, createdAt: u.createdAt });

/** The target holds exactly the source's users, records, ledger and bytes. */
async function expectSameData(source: string, target: MetadataStore, targetRoot: string, seeded: Seeded): Promise<void> {
  const from = await openMetadataStore({ databaseUrl: sqliteUrl(source) });
  try {
    const users = (await from.users.listUsers()).map(strip);
    expect((await target.users.listUsers()).map(strip)).toEqual(users);
    for (const f of seeded.files) expect(await target.files.getFile(f.key)).toEqual(f);
    for (const userId of ['u-alice', 'u-bob', 'u-carol', 'ext-user@idp']) {
      const [a, b] = [await from.files.usage(userId), await target.files.usage(userId)];
      expect({ used: b.usedBytes, files: b.fileCount, reserved: b.reservedBytes, open: b.openUploads }).toEqual({ used: a.usedBytes, files: a.fileCount, reserved: 0, open: 0 });
    }
  } finally {
    await from.close();
  }
  const blobs = new LocalDiskBlobStore(targetRoot);
  for (const [key, body] of seeded.bytes) {
    const chunks: Buffer[] = [];
    for await (const c of await blobs.read(key)) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks)), key).toBe(sha256(body));
  }
}

describePostgres('cli copy-data: SQLite + disk → PostgreSQL + another directory', () => {
  it('copies users, records, the ledger and every object, verified; a second run finds everything there; the target serves', async () => {
    const source = await root('sl-copy-src-');
    const targetRoot = await root('sl-copy-dst-');
    const seeded = await seed(source);
    const schema = await freshSchema('copy');
    try {
      const first = await run(source, ['--to-database', schema.url, '--to-storage', `local:${targetRoot}`]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain('files in the source: 7 (6.0 MiB)');
      expect(first.stdout).toContain('users:   3 copied, 0 already in the target');
      expect(first.stdout).toContain('records: 7 copied, 0 already in the target');
      expect(first.stdout).toMatch(/objects: 7 copied \(6\.0 MiB, each verified\), 0 already in the target \(checked by sha256\), 0 replaced/);
      expect(first.stdout).toContain('failed:  0');
      expect(first.stdout).toContain('not copied: 1 open upload(s)');
      expect(first.stderr).toMatch(/copy-data: 7\/7 files, 6\.0 MiB\/6\.0 MiB \(100%\), .*done/);

      const target = await openMetadataStore({ databaseUrl: schema.url });
      try {
        await expectSameData(source, target, targetRoot, seeded);
        expect(await target.uploads.countUploads('open')).toBe(0);
      } finally {
        await target.close();
      }

      const again = await run(source, ['--to-database', schema.url, '--to-storage', `local:${targetRoot}`]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('users:   0 copied, 3 already in the target');
      expect(again.stdout).toContain('records: 0 copied, 7 already in the target');
      expect(again.stdout).toContain('objects: 0 copied (0 B, each verified), 7 already in the target (checked by sha256), 0 replaced');

      // The copied password hashes, states and bytes work on a server started on the target.
      const server = await startTestServer({ DATABASE_URL: schema.url, AUTH_KEYS_SECRET: randomBytes(24).toString('hex') }, targetRoot);
      try {
        const login = (username: string) => server.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: seeded.passwords[username] } });
        const alice = await login('alice');
        expect(alice.statusCode, alice.body).toBe(200);
        expect((await login('bob')).statusCode).toBe(401);
        const big = seeded.files.find((f) => f.filename === 'big.bin')!;
        const res = await server.asBearer(alice.json().access_token, { method: 'GET', url: `/${big.key.split('/').map(encodeURIComponent).join('/')}` });
        expect(res.statusCode).toBe(200);
        expect(sha256(res.rawPayload)).toBe(big.sha256);
      } finally {
        await server.close();
      }
    } finally {
      await schema.drop();
    }
  });
});

describe('cli copy-data: SQLite + disk → SQLite + another directory', () => {
  it('a run killed in the middle of an object leaves no record without its verified object, and the next run finishes the copy', async () => {
    const source = await root('sl-copy-src-');
    const targetRoot = await root('sl-copy-dst-');
    // One at a time, in key order: a…c, then m.bin (32 MiB: the kill lands while it streams), then x…z.
    const seeded = await seed(source, { docs: [['a.txt', 3000], ['b.txt', 3000], ['c.txt', 3000], ['m.bin', 32 << 20], ['x.txt', 3000], ['y.txt', 3000]] });
    const held = seeded.files.find((f) => f.filename === 'm.bin')!;
    const args = ['copy-data', '--to-database', sqliteUrl(targetRoot), '--to-storage', `local:${targetRoot}`, '--parallel', '1'];
    const child = spawn(process.execPath, [distPath('cli.js'), ...args], { cwd: source, env: { PATH: process.env.PATH ?? '', ...testEnv(source) }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // kill -9 as soon as m.bin's bytes are arriving in a temporary file of the target.
    const tmpDir = path.join(targetRoot, '.tmp');
    let killedWhileWriting = false;
    for (let i = 0; i < 5000 && child.exitCode === null; i++) {
      const names = await fs.readdir(tmpDir).catch(() => [] as string[]);
      const sizes = await Promise.all(names.map((n) => fs.stat(path.join(tmpDir, n)).then((s) => s.size, () => 0)));
      if (sizes.some((s) => s > 3000)) {
        child.kill('SIGKILL');
        killedWhileWriting = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await exited;
    expect(killedWhileWriting).toBe(true);

    const target = await openMetadataStore({ databaseUrl: sqliteUrl(targetRoot) });
    const blobs = new LocalDiskBlobStore(targetRoot);
    try {
      for (const f of seeded.files) {
        const [record, object] = [await target.files.getFile(f.key), await blobs.stat(f.key)];
        if (['a.txt', 'b.txt', 'c.txt'].includes(f.filename)) expect([f.filename, !!record, object?.size]).toEqual([f.filename, true, f.size]);
        if (f === held) expect([!!record, object]).toEqual([false, null]); // never a partial object under the key
        if (['x.txt', 'y.txt'].includes(f.filename)) expect(record).toBeNull();
      }
    } finally {
      await target.close();
    }

    const resumed = await run(source, ['--to-database', sqliteUrl(targetRoot), '--to-storage', `local:${targetRoot}`]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/records: \d+ copied, [1-9]\d* already in the target/);
    expect(resumed.stdout).toContain('failed:  0');
    const after = await openMetadataStore({ databaseUrl: sqliteUrl(targetRoot) });
    try {
      await expectSameData(source, after, targetRoot, seeded);
    } finally {
      await after.close();
    }
  });

  it('finds a damaged target object (replaced, unless --size-only), and refuses a source object that no longer matches its record', async () => {
    const source = await root('sl-copy-src-');
    const targetRoot = await root('sl-copy-dst-');
    const seeded = await seed(source);
    const args = ['--to-database', sqliteUrl(targetRoot), '--to-storage', `local:${targetRoot}`];
    expect((await run(source, args)).code).toBe(0);

    // Same size, other bytes: --size-only takes it as copied; the default check does not.
    const damaged = seeded.files.find((f) => f.filename === 'b.txt')!;
    await fs.writeFile(path.join(targetRoot, damaged.key), randomBytes(damaged.size));
    const quick = await run(source, [...args, '--size-only']);
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toContain('7 already in the target (checked by size), 0 replaced');
    const full = await run(source, args);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stderr).toContain(`replaced ${damaged.key}: the target held other bytes under this key`);
    expect(full.stdout).toContain('objects: 1 copied (2.9 KiB, each verified), 6 already in the target (checked by sha256), 1 replaced');
    expect(sha256(await fs.readFile(path.join(targetRoot, damaged.key)))).toBe(damaged.sha256);

    // A source object whose bytes are no longer its record's: not copied, no record, exit 1.
    const fresh = await root('sl-copy-dst2-');
    const rotten = seeded.files.find((f) => f.filename === 'c.txt')!;
    await fs.writeFile(path.join(source, rotten.key), randomBytes(rotten.size));
    const bad = await run(source, ['--to-database', sqliteUrl(fresh), '--to-storage', `local:${fresh}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`FAILED ${rotten.key}: the source object (${rotten.size} bytes, sha256 `);
    expect(bad.stdout).toContain('records: 6 copied');
    expect(bad.stdout).toContain('failed:  1 (named on stderr; fix and run again)');
    const target = await openMetadataStore({ databaseUrl: sqliteUrl(fresh) });
    try {
      expect(await target.files.getFile(rotten.key)).toBeNull();
      expect(await new LocalDiskBlobStore(fresh).stat(rotten.key)).toBeNull();
    } finally {
      await target.close();
    }
    // Repaired at the source, it goes in on the next run, though alice's quota (1000 bytes, kept)
    // is below what she stores.
    await fs.writeFile(path.join(source, rotten.key), seeded.bytes.get(rotten.key)!);
    const fixed = await run(source, ['--to-database', sqliteUrl(fresh), '--to-storage', `local:${fresh}`]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain('records: 1 copied, 6 already in the target');
    const done = await openMetadataStore({ databaseUrl: sqliteUrl(fresh) });
    try {
      await expectSameData(source, done, fresh, seeded);
      expect((await done.users.getUserById('u-alice'))!.quotaBytes).toBe(1000);
    } finally {
      await done.close();
    }
  });

  it('reads every copy back: a target that stores other bytes than it was sent fails that file and keeps neither object nor record', async () => {
    const source = await root('sl-copy-src-');
    const targetRoot = await root('sl-copy-dst-');
    const seeded = await seed(source);
    const victim = seeded.files.find((f) => f.filename === 'a.txt')!;
    /** A disk that damages one object after acknowledging it (what the read-back exists for). */
    class DamagingDisk extends LocalDiskBlobStore {
      override async writeObject(...args: Parameters<LocalDiskBlobStore['writeObject']>) {
        const written = await super.writeObject(...args);
        if (args[0] === victim.key) await fs.writeFile(path.join(targetRoot, victim.key), randomBytes(victim.size));
        return written;
      }
    }
    const from = { store: await openMetadataStore({ databaseUrl: sqliteUrl(source) }), blobs: new LocalDiskBlobStore(source) };
    const to = { store: await openMetadataStore({ databaseUrl: sqliteUrl(targetRoot) }), blobs: new DamagingDisk(targetRoot) };
    await to.blobs.init();
    const lines: string[] = [];
    try {
      const summary = await copyData(from, to, { parallel: 3, sizeOnly: false, report: (l) => lines.push(l) });
      expect(summary).toMatchObject({ failed: 1, records: { copied: 6 }, objects: { copied: 6 } });
      expect(lines).toEqual([expect.stringMatching(new RegExp(`^FAILED ${victim.key}: the copy read back from the target \\(3000 bytes, sha256 [0-9a-f]{64}\\) differs from what was sent; removed$`))]);
      expect(await to.store.files.getFile(victim.key)).toBeNull();
      expect(await to.blobs.stat(victim.key)).toBeNull();
    } finally {
      await Promise.all([from.store.close(), to.store.close()]);
    }
  });

  it('usage: a target is required, a target may not be the source, --help explains the flags', async () => {
    const source = await root('sl-copy-src-');
    const [none, sameDb, sameDir, s3FromS3, help] = await Promise.all([
      run(source, []),
      run(source, ['--to-database', sqliteUrl(source)]),
      run(source, ['--to-storage', `local:${source}`]),
      run(source, ['--to-storage', 's3'], { STORAGE_BACKEND: 's3', S3_BUCKET: 'some-bucket' }),
      run(source, ['--help']),
    ]);
    for (const r of [none, sameDb, sameDir, s3FromS3]) expect(r.code, r.stderr).toBe(2);
    expect(none.stderr).toContain('name a target');
    expect(sameDb.stderr).toContain('--to-database: that is the source DATABASE_URL');
    expect(sameDir.stderr).toContain('--to-storage: that directory is the source UPLOAD_ROOT');
    expect(s3FromS3.stderr).toContain('the S3_* variables already name the source');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--to-storage s3         the bucket S3_BUCKET');
  });
});

describeS3('cli copy-data: local disk → S3 (the records stay in the same database)', () => {
  it('copies every object into the bucket, verified; a server switched to STORAGE_BACKEND=s3 serves them; a damaged object in the bucket is found and replaced', async () => {
    const source = await root('sl-copy-s3-');
    const seeded = await seed(source);
    const place = await freshS3('copy');
    try {
      const first = await run(source, ['--to-storage', 's3'], { ...place.env, STORAGE_BACKEND: 'local' });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain('objects: 7 copied (6.0 MiB, each verified), 0 already in the target (checked by sha256), 0 replaced');
      expect(first.stdout).not.toContain('records:');

      // Same size, other bytes, put straight into the bucket: found by the next run and replaced.
      const damaged = seeded.files.find((f) => f.filename === 'a.txt')!;
      await s3().send(new PutObjectCommand({ Bucket: place.bucket, Key: place.prefix + damaged.key, Body: randomBytes(damaged.size) }));
      const again = await run(source, ['--to-storage', 's3'], { ...place.env, STORAGE_BACKEND: 'local' });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('objects: 1 copied (2.9 KiB, each verified), 6 already in the target (checked by sha256), 1 replaced');

      // The same records, bytes now from the bucket (the old UPLOAD_ROOT's files out of the way).
      await fs.rm(path.join(source, 'storage'), { recursive: true });
      await fs.rm(path.join(source, '.long'), { recursive: true, force: true });
      const server = await startTestServer({ ...place.env, DATABASE_URL: sqliteUrl(source) }, source);
      try {
        for (const f of seeded.files) {
          const res = await server.asService({ method: 'GET', url: `/${f.key.split('/').map(encodeURIComponent).join('/')}` });
          expect([f.filename, res.statusCode, sha256(res.rawPayload)]).toEqual([f.filename, 200, f.sha256]);
        }
      } finally {
        await server.close();
      }
    } finally {
      await place.drop();
    }
  });
});
