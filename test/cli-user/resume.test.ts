/**
 * `stream-line upload` stopped part-way and run again: Ctrl-C (exit 130), then kill -9, then a
 * run to the end; each later run sends only the parts the server lacks (counted at a proxy that
 * holds back the parts after the Nth, so every stop happens at a known point). And the CLI as a
 * person sees it in a real terminal (tmux, its pane captured): the progress bars, Ctrl-C, and
 * the password prompt that does not echo.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../serve/serve-helpers.js';
import { cli, inTerminal, runCli, startCliWorld, type CliWorld } from './kit.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('stream-line in use: resumed uploads, a real terminal', () => {
  let w: CliWorld;

  beforeAll(async () => {
    w = await startCliWorld();
  });
  afterAll(async () => w?.close());

  it('continues after Ctrl-C and after kill -9, sending only the missing parts', async () => {
    const h = await w.home();
    const env = { ...h.env, STREAM_LINE_URL: w.proxy.url, STREAM_LINE_TOKEN: await w.server.tokenFor('gina') };
    // Five 8 MiB parts (the server's default part size), the last one short.
    const bytes = randomBytes(4 * 8 * MiB + 12_345);
    const file = path.join(h.env.HOME!, 'big.bin');
    await fs.writeFile(file, bytes);
    const upload = ['upload', 'big.bin', '--parts', '2', '--folder', 'resumed'];
    const stateFiles = () => fs.readdir(path.join(h.stateDir, 'uploads')).catch(() => [] as string[]);

    // Run 1: two parts get through, the third is held; Ctrl-C.
    w.proxy.reset();
    w.proxy.holdAfter(2);
    const first = runCli(upload, env);
    await w.proxy.stored(2);
    expect(await waitFor(() => w.proxy.partsSeen >= 3, 10_000)).toBe(true);
    expect(await stateFiles()).toHaveLength(1);
    first.child.kill('SIGINT');
    const r1 = await first.done;
    expect(r1.code, r1.stderr).toBe(130);
    expect(r1.stderr).toContain('interrupted: run the same command again');

    // Run 2: one more part, then kill -9 (no handler runs: the saved state must already be there).
    w.proxy.holdAfter(3);
    const second = runCli(upload, env);
    await w.proxy.stored(3);
    second.child.kill('SIGKILL');
    expect((await second.done).signal).toBe('SIGKILL');
    expect(await stateFiles()).toHaveLength(1);

    // Run 3: parts 4 and 5 only. (And a week-old entry of some other file is dropped meanwhile.)
    const stale = path.join(h.stateDir, 'uploads', 'stale.json');
    await fs.writeFile(stale, JSON.stringify({ uploadId: 'gone-long-ago', file: '/x', size: 1, created_at: '2020-01-01T00:00:00Z' }));
    await fs.utimes(stale, new Date(Date.now() - 8 * 86_400_000), new Date(Date.now() - 8 * 86_400_000));
    w.proxy.reset();
    const third = await cli([...upload, '--json'], env);
    expect(third.code, third.stderr).toBe(0);
    expect({ seen: w.proxy.partsSeen, stored: w.proxy.partsStored }).toEqual({ seen: 2, stored: 2 });
    const [record] = JSON.parse(third.stdout).uploaded;
    // The server's SHA-256 of the assembled file is the bytes' check; the saved state is gone.
    expect(record).toMatchObject({ path: 'big.bin', resumed: true, size: bytes.length, sha256: sha256(bytes), folder: 'resumed' });
    expect(await stateFiles()).toEqual([]);
  });

  it('draws a bar per file and a total in a terminal, and stops on Ctrl-C there', async () => {
    const h = await w.home();
    const env = { ...h.env, STREAM_LINE_URL: w.proxy.url, STREAM_LINE_TOKEN: await w.server.tokenFor('hugo') };
    await fs.writeFile(path.join(h.env.HOME!, 'movie.mp4'), randomBytes(3 * 8 * MiB));
    await fs.writeFile(path.join(h.env.HOME!, 'notes.txt'), 'short\n');
    w.proxy.reset();
    w.proxy.holdAfter(2); // notes.txt's one part and movie.mp4's first: then movie.mp4 stays at 1 of 3
    const term = await inTerminal(['upload', 'movie.mp4', 'notes.txt', '--parts', '1'], env);
    try {
      let pane = '';
      const capture = async () => (pane = await term.capture());
      const bar = (name: string) => new RegExp(`^${name.replace('.', '\\.')} +\\|[\\u2588\\u2591]{20}\\| (\\d+)% \\| [\\d.]+ MiB/24 MiB \\| [\\d.]+ \\w+/s \\| ETA \\S+`, 'm');
      // movie.mp4's first part is stored (33 %); its second is held at the proxy, and the SDK
      // counts what it has written into the socket so far, so the bar may stand a little past
      // 33 % but never at the second part's end (67 %).
      const percent = (name: string) => Number(bar(name).exec(pane)?.[1] ?? -1);
      const held = (name: string) => percent(name) >= 33 && percent(name) < 67;
      const seen = await waitFor(async () => (await capture(), held('movie.mp4') && held('total')), 15_000);
      expect(seen, pane).toBe(true);
      expect(percent('total')).toBe(percent('movie.mp4')); // notes.txt (6 bytes) done: the total follows movie.mp4
      await term.keys('C-c');
      expect(await waitFor(async () => /exit=130/.test(await capture()), 10_000), pane).toBe(true);
      expect(pane).toContain('interrupted: run the same command again');
    } finally {
      await term.close();
    }
  });

  it('login asks for the password in a terminal without echoing it', async () => {
    const h = await w.home();
    const password = await w.addUser('ivan');
    const term = await inTerminal(['login', '--server', w.base, '--username', 'ivan'], h.env);
    try {
      let pane = '';
      const capture = async () => (pane = await term.capture());
      expect(await waitFor(async () => /^password:\s*$/m.test(await capture()), 10_000), pane).toBe(true);
      await term.keys(password, true);
      await term.keys('Enter');
      expect(await waitFor(async () => /exit=\d+/.test(await capture()), 10_000), pane).toBe(true);
      expect(pane).toContain(`logged in to ${w.base} as ivan (operator)`);
      expect(pane).toContain('exit=0');
      expect(pane).not.toContain(password);
      expect(JSON.parse(await fs.readFile(path.join(h.configDir, 'credentials'), 'utf8')).servers[w.base].username).toBe('ivan');
    } finally {
      await term.close();
    }
  });
});
