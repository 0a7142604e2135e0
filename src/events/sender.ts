/**
 * One webhook POST: to the address the SSRF guard checked (the `lookup` hook hands it to the
 * socket, so TLS still verifies the URL's host name), redirects never followed (a 3xx is a
 * failure like any non-2xx), the whole exchange cut after `timeoutMs`, the answer's body
 * read and dropped (at most 64 KiB).
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveChecked } from './address-guard.js';

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

/** ok: a 2xx arrived in time. Otherwise why not (kept as the delivery's last error). */
export type SendResult = { ok: true; status: number } | { ok: false; error: string };

const MAX_ANSWER = 64 * 1024;

export async function sendWebhook(url: string, headers: Record<string, string>, body: string, opts: SendOptions): Promise<SendResult> {
  const target = new URL(url);
  let checked: { address: string; family: 4 | 6 };
  try {
    checked = await resolveChecked(target.hostname, opts.allowPrivate);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [checked]);
    else callback(null, checked.address, checked.family);
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve) => {
    const req = client.request(
      target,
      {
        method: 'POST',
        lookup: pinned,
        agent: false,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'stream-line-webhooks' },
      },
      (res) => {
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > MAX_ANSWER) res.destroy();
        });
        const status = res.statusCode ?? 0;
        const settle = () => resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, error: `HTTP ${status}` });
        res.on('end', settle);
        res.on('close', settle); // a resolved promise ignores the second call
        res.on('error', () => undefined);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ ok: false, error: `no answer in ${opts.timeoutMs} ms` });
    }, opts.timeoutMs);
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}
