// A small node:http client (keep-alive agents, streamed bodies) for API calls and for the
// parallel part uploads, so every upload target is fed by the same client code.
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';

export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One request. `body`: Buffer | string | object (sent as JSON) | Readable | { file, start, end }.
 * Resolves { status, headers, body: Buffer, json(), ms } — never rejects on an HTTP status.
 */
export function request(method, url, { headers = {}, body, timeoutMs = 10 * 60_000, useAgent = agent } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const h = { ...headers };
    let payload = null;
    let stream = null;
    if (body === undefined || body === null) {
      // no body
    } else if (Buffer.isBuffer(body) || typeof body === 'string') {
      payload = body;
    } else if (typeof body.pipe === 'function') {
      stream = body;
    } else if (body.file) {
      stream = createReadStream(body.file, { start: body.start, end: body.end, highWaterMark: 1 << 20 });
      h['content-length'] ??= String(body.end - body.start + 1);
      h['content-type'] ??= 'application/octet-stream';
    } else {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    if (payload !== null) h['content-length'] = String(Buffer.byteLength(payload));
    const req = http.request(url, { method, headers: h, agent: useAgent });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: buf,
          ms: Number(process.hrtime.bigint() - t0) / 1e6,
          json() {
            return JSON.parse(buf.toString('utf8'));
          },
        });
      });
    });
    if (stream) pipeline(stream, req).catch((err) => req.destroy(err));
    else req.end(payload ?? undefined);
  });
}

/** request() that throws unless the status is one of `ok`; returns the parsed JSON. */
export async function call(method, url, opts = {}, ok = [200, 201]) {
  const res = await request(method, url, opts);
  if (!ok.includes(res.status)) {
    throw new Error(`${method} ${url} → ${res.status}: ${res.body.toString('utf8').slice(0, 500)}`);
  }
  return res.body.length ? res.json() : null;
}

/** Runs `fn(i)` for i in [0, count) with at most `limit` in flight; resolves the results in order. */
export async function pool(count, limit, fn) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}
