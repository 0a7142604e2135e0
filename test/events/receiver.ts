/**
 * A real HTTP webhook receiver on loopback for the tests: records every POST (headers and
 * body as received) and answers as told: 200, an error status, a redirect, or late.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: Record<string, string>;
  body: string;
  path: string;
}

export class Receiver {
  readonly received: Received[] = [];
  /** The status to answer with (302 sends Location: /elsewhere). */
  status = 200;
  /** Answer this long after the body arrived, plus up to `jitterMs` at random. */
  delayMs = 0;
  jitterMs = 0;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '' });
      const answer = () => {
        if (this.status === 302) res.writeHead(302, { location: '/elsewhere' });
        else res.writeHead(this.status);
        res.end();
      };
      const delay = this.delayMs + Math.random() * this.jitterMs;
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Event bodies received so far, parsed. */
  events(): { type: string; id: string; created_at: string; data: Record<string, unknown> }[] {
    return this.received.map((r) => JSON.parse(r.body) as { type: string; id: string; created_at: string; data: Record<string, unknown> });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Polls `check` every 25 ms until true or `ms` passed; the last result. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Real time plus an offset the test moves (retries become due without sleeping). */
export class ShiftedClock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}
