/**
 * What the SDK tests put between the SDK and the real server: a server on a real socket, an
 * HTTP proxy that counts requests and can answer some itself (a 503 or 429 with Retry-After,
 * a connection closed with no answer), and a TCP proxy that cuts a connection after N bytes
 * of one part's body.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startTestServer, type TestServer } from '../helpers/app.js';

export interface SdkServer {
  s: TestServer;
  /** http://127.0.0.1:port of the server itself. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startSdkServer(env: Record<string, string> = {}): Promise<SdkServer> {
  const s = await startTestServer(env);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (s.app.server.address() as AddressInfo).port;
  return { s, port, url: `http://127.0.0.1:${port}`, close: () => s.close() };
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** What the proxy does with a request: forward it (undefined), answer it, or drop the connection. */
export type Intercept = (req: SeenRequest) => { status: number; headers?: Record<string, string>; body?: string } | 'drop' | undefined;

export interface HttpProxy {
  url: string;
  /** The port requests are forwarded to (settable: a server may need the proxy's URL first). */
  target: number;
  seen: SeenRequest[];
  intercept: Intercept | undefined;
  /** Extra routes served by the proxy itself (a test page): path → [content type, body]. */
  pages: Map<string, [string, string | Buffer]>;
  close(): Promise<void>;
}

/** A forwarding HTTP proxy in front of `targetPort` that records every request. */
export async function startHttpProxy(targetPort: number): Promise<HttpProxy> {
  const proxy: HttpProxy = { url: '', target: targetPort, seen: [], intercept: undefined, pages: new Map(), close: async () => {} };
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const seen = { method: req.method!, url: req.url!, headers: req.headers };
    const page = proxy.pages.get(req.url!.split('?')[0]!);
    if (page) {
      res.writeHead(200, { 'content-type': page[0] }).end(page[1]);
      return;
    }
    proxy.seen.push(seen);
    const answer = proxy.intercept?.(seen);
    if (answer === 'drop') {
      req.socket.destroy();
      return;
    }
    if (answer) {
      req.resume();
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body ?? '');
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port: proxy.target, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return proxy;
}

export interface CuttingProxy {
  url: string;
  /** Connections cut so far. */
  cuts: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `targetPort` that, once, lets `afterBytes` bytes of the request
 * whose request line contains `marker` through and then destroys both sockets: a connection
 * dropped mid-part, as a flaky network does it.
 */
export async function startCuttingProxy(targetPort: number, marker: string, afterBytes: number): Promise<CuttingProxy> {
  const state: CuttingProxy = { url: '', cuts: 0, close: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    // Bytes of the marked request seen on this connection so far (from its request line on).
    let counted: number | null = null;
    client.on('data', (chunk: Buffer) => {
      if (state.cuts === 0 && counted === null) {
        const at = chunk.indexOf(marker);
        if (at >= 0) counted = -at;
      }
      if (state.cuts === 0 && counted !== null) {
        const before = counted;
        counted += chunk.length;
        if (counted >= afterBytes) {
          upstream.write(chunk.subarray(0, afterBytes - before));
          state.cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

/** Deterministic pseudo-random bytes (xorshift), so the browser page can build the same ones. */
export function patternBytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
