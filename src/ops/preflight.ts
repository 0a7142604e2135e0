/**
 * Start-up checks that turn the usual first-day mistakes into one line naming the cause,
 * instead of a stack trace or a hang: a data root that is not a writable directory on a real
 * filesystem, and an address the server cannot listen on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/config.js';

/** statfs magic numbers of kernel pseudo-filesystems (mkdir -p under /proc spins forever). */
const PSEUDO_FILESYSTEMS: Record<number, string> = {
  0x9fa0: 'procfs',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x64626720: 'debugfs',
  0x73636673: 'securityfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
};

/** The subfolders the server writes to (each is checked when it exists). */
const WRITTEN_SUBDIRS = ['.tmp', '.parts', '.long', 'storage', 'keys', 'secrets'];

function nearestExisting(dir: string): string {
  let current = dir;
  for (;;) {
    if (fs.existsSync(current)) return current;
    const parent = path.dirname(current);
    if (parent === current) return current;
    current = parent;
  }
}

function assertWritableDir(dir: string, why: string): void {
  if (!fs.statSync(dir).isDirectory()) throw new ConfigError('UPLOAD_ROOT', `${dir} is not a directory (${why})`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new ConfigError('UPLOAD_ROOT', `${dir} is not writable by this user, uid ${process.getuid?.() ?? '?'} (${why})`);
  }
}

/** Throws ConfigError('UPLOAD_ROOT', …) unless the data root can hold the server's files. */
export function checkDataRoot(root: string): void {
  const existing = nearestExisting(root);
  const fsType = PSEUDO_FILESYSTEMS[Number(fs.statfsSync(existing).type)];
  if (fsType !== undefined || /^\/(proc|sys)(\/|$)/.test(root)) {
    throw new ConfigError('UPLOAD_ROOT', `${root} is on ${fsType ?? 'a kernel pseudo-filesystem'}: choose a directory on a real disk`);
  }
  if (existing !== root) {
    assertWritableDir(existing, `needed to create ${root}`);
    return;
  }
  assertWritableDir(root, 'the data directory');
  for (const sub of WRITTEN_SUBDIRS) {
    const dir = path.join(root, sub);
    if (fs.existsSync(dir)) assertWritableDir(dir, 'the server writes there');
  }
}

/** One line for a failed listen (port in use, address not on this machine, …). */
export function describeListenError(err: unknown, host: string, port: number): string | null {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is already in use (set PORT to another one)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: BIND_HOST is not an address of this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where}: BIND_HOST does not resolve to an address`;
    case 'EACCES':
      return `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`;
    default:
      return null;
  }
}
