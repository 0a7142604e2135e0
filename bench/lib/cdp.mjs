// Chromium driven over the DevTools protocol by hand (--remote-debugging-pipe), enabling no
// domain but what it uses: playwright enables the Network domain on every page, and Chromium
// then hands each request body to the DevTools client — an 8 MiB part PUT took ~800 ms under
// playwright and ~70 ms without it on this machine. Uploads are measured through this instead.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Starts headless Chromium with a profile under `profileDir` and attaches to its first page.
 * Returns { send(method, params) on the page, browser(method, params), evaluate(expr), close() }.
 */
export async function launchBare(profileDir) {
  mkdirSync(profileDir, { recursive: true });
  const child = spawn(
    CHROMIUM,
    ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--remote-debugging-pipe', `--user-data-dir=${profileDir}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  // Closing the pipe (this process ending, even on SIGINT) ends the browser too.
  const [toBrowser, fromBrowser] = [child.stdio[3], child.stdio[4]];
  let id = 0;
  let buf = '';
  const waiting = new Map();
  fromBrowser.on('data', (d) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\0'); i >= 0; i = buf.indexOf('\0')) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      const w = msg.id !== undefined && waiting.get(msg.id);
      if (!w) continue; // events: none asked for
      waiting.delete(msg.id);
      if (msg.error) w.reject(new Error(`${w.method}: ${JSON.stringify(msg.error)}`));
      else w.resolve(msg.result);
    }
  });
  const call = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const m = { id: ++id, method, params, ...(sessionId ? { sessionId } : {}) };
      waiting.set(m.id, { resolve, reject, method });
      toBrowser.write(JSON.stringify(m) + '\0');
    });
  let page;
  for (let tries = 0; !page; tries++) {
    const { targetInfos } = await call('Target.getTargets');
    page = targetInfos.find((t) => t.type === 'page');
    if (!page && tries > 100) throw new Error('Chromium opened no page');
    if (!page) await new Promise((r) => setTimeout(r, 50));
  }
  const { sessionId } = await call('Target.attachToTarget', { targetId: page.targetId, flatten: true });
  const send = (method, params) => call(method, params, sessionId);
  return {
    send,
    browser: (method, params) => call(method, params),
    /** The value of an expression in the page (awaited when a promise). */
    async evaluate(expression) {
      const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value;
    },
    /** Sets a file input's files by path (the browser reads the file itself) and fires its change event. */
    async setFiles(selector, files) {
      const { root } = await send('DOM.getDocument');
      const { nodeId } = await send('DOM.querySelector', { nodeId: root.nodeId, selector });
      if (!nodeId) throw new Error(`no ${selector} in the page`);
      await send('DOM.setFileInputFiles', { nodeId, files });
    },
    close: async () => {
      child.kill('SIGKILL');
    },
  };
}
