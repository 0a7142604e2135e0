/**
 * A person starting the server in a terminal sees one banner (address, data directory, where
 * the generated admin password is, docs URL); a service manager or a pipe gets pino JSON only.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { distPath, REPO } from '../config/run-dist.js';
import { tempDir } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';

const roots: string[] = [];
afterAll(async () => {
  for (const dir of roots) await fs.rm(dir, { recursive: true, force: true });
});

/** Starts the server with no secrets configured, reads stdout until `until` matches, stops it. */
async function firstOutput(argv: string[], until: RegExp): Promise<string> {
  const root = await tempDir('sl-banner-');
  roots.push(root);
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', UPLOAD_ROOT: root, PORT: String(port), PASSWORD_ARGON2_MEMORY_KIB: '1024', TERM: 'dumb' };
  const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no match for ${until} in: ${out}`)), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (until.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('error', reject);
    });
  } finally {
    child.kill('SIGTERM');
  }
  return out.replace(/\r/g, '');
}

describe('start banner', () => {
  it('on a terminal: address, data directory, generated admin password file, docs URL', async () => {
    // util-linux `script` gives the server a pseudo-terminal as stdout.
    const out = await firstOutput(['script', '-qfec', `${process.execPath} ${distPath('main.js')}`, '/dev/null'], /OpenAPI/);
    expect(out).toMatch(/Stream-Line file server \S+ listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/ {2}data {7}\/\S+ \(SQLite \S+metadata\.sqlite\)/);
    expect(out).toMatch(/ {2}admin {6}admin \(password in \S+\/secrets\/admin-password\)/);
    expect(out).toMatch(/ {2}API docs {3}http:\/\/127\.0\.0\.1:\d+\/docs/);
  });

  it('through a pipe: pino JSON lines only', async () => {
    const out = await firstOutput([process.execPath, distPath('main.js')], /Server listening/);
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
