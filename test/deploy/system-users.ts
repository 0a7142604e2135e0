/**
 * Throwaway system users for tests that need production ownership (tests run as root in CI):
 * a service user like `uploadsvc`, an nginx worker user like `www-data`. Each has its own
 * group of the same name; remove() deletes both.
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  group: string;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (it creates system users), as CI runs it');
}

/** `useradd --system --user-group` with a random name under `prefix` (≤ 32 chars). */
export function createSystemUser(prefix: string): SystemUser {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  return { name, uid: Number(run('id', ['-u', name])), gid: Number(run('id', ['-g', name])), group: run('id', ['-gn', name]) };
}

export function removeSystemUser(user: SystemUser | undefined): void {
  if (!user) return;
  spawnSync('userdel', [user.name]);
  // userdel removes the user's own group; make sure, without failing if it is gone.
  spawnSync('groupdel', [user.group]);
}

/**
 * Spawns `command` as `user` (no supplementary groups: libuv drops them) with `umask`, the way
 * the systemd unit runs the service (User=, Group=, UMask=).
 */
export function spawnAs(
  user: SystemUser,
  umask: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): ChildProcess {
  return spawn('/bin/sh', ['-c', `umask ${umask} && exec "$0" "$@"`, command, ...args], {
    uid: user.uid,
    gid: user.gid,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}
