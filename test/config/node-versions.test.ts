/**
 * The Node version we declare (`engines` in package.json), the one we run and test on, and the
 * ones our dependencies declare agree: no package in the lock file needs a newer Node than the
 * oldest one we promise to support.
 */
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }>;
};

describe('Node versions', () => {
  const oldest = semver.minVersion(pkg.engines.node)!.version;

  it('the running Node satisfies package.json engines', () => {
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });

  it(`every locked dependency runs on the oldest Node we declare (${oldest})`, () => {
    const refusing = Object.entries(lock.packages)
      .filter(([name, p]) => name !== '' && !Array.isArray(p.engines) && typeof p.engines?.node === 'string')
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
      .map(([name, p]) => `${name} needs node ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });
});
