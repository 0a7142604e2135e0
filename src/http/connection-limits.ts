/**
 * Caps on open connections (docs/api.md, Limits): server-wide (MAX_CONNECTIONS) and per client
 * address (MAX_CONNECTIONS_PER_ADDRESS). Over a cap the connection gets a raw
 * `429 too_many_connections` in the JSON error shape and is closed before any HTTP parsing.
 *
 * Connections from trusted proxies (TRUST_PROXY) are not capped per address: behind nginx every
 * client arrives from nginx's address, and nginx caps per client itself (limit_conn).
 *
 * How: the gate sits in front of Node's own 'connection' listener (the one that attaches the
 * HTTP parser) and hands it only the connections it admits. Node's `server.maxConnections` is
 * set a little above the cap as a backstop: beyond it Node drops connections without a word.
 */
import { BlockList, isIP, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { answerAndClose, rawErrorResponse } from './raw-response.js';

export interface ConnectionLimits {
  /** 0: no server-wide cap. */
  maxConnections: number;
  /** 0: no per-address cap. */
  maxPerAddress: number;
}

const RETRY_AFTER_SECONDS = '5';

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client. */
function clientAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * TRUST_PROXY as a predicate over addresses: `true` trusts everyone (then nothing is capped per
 * address), `false` no one; a list holds addresses, CIDR ranges and the names proxy-addr knows
 * (`loopback`, `linklocal`, `uniquelocal`), as Fastify's trustProxy does.
 */
export function trustedProxies(trustProxy: boolean | string): (address: string) => boolean {
  if (trustProxy === true) return () => true;
  if (trustProxy === false) return () => false;
  const list = new BlockList();
  const add = (entry: string): void => {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0) return; // proxy-addr would refuse it at start-up; nothing to trust here
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, prefixLength(bits), type);
  };
  const named: Record<string, string[]> = {
    loopback: ['127.0.0.0/8', '::1/128'],
    linklocal: ['169.254.0.0/16', 'fe80::/10'],
    uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  };
  for (const raw of trustProxy.split(',')) {
    const entry = raw.trim();
    for (const e of named[entry] ?? [entry]) add(e);
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** `24`, or a dotted netmask such as `255.255.255.0` (proxy-addr takes both). */
function prefixLength(bits: string): number {
  if (isIP(bits) !== 4) return Number(bits);
  return bits.split('.').reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replaceAll('0', '').length, 0);
}

export class ConnectionGate {
  private open = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly isTrustedProxy: (address: string) => boolean,
  ) {}

  /** Puts the gate in front of the server's HTTP connection handling. */
  install(server: Server): void {
    if (this.limits.maxConnections === 0 && this.limits.maxPerAddress === 0) return;
    if (this.limits.maxConnections > 0) {
      server.maxConnections = this.limits.maxConnections + Math.max(64, Math.ceil(this.limits.maxConnections / 10));
    }
    const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      if (!this.admit(socket)) return;
      for (const handler of handlers) handler.call(server, socket);
    });
  }

  /** Counts the connection in, or answers 429 and closes it. */
  admit(socket: Socket): boolean {
    const { maxConnections, maxPerAddress } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) {
      this.refuse(socket, 'The server has too many open connections; try again shortly');
      return false;
    }
    const address = clientAddress(socket);
    const capped = maxPerAddress > 0 && !this.isTrustedProxy(address);
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (capped && fromAddress >= maxPerAddress) {
      this.refuse(socket, `Too many open connections from your address (at most ${maxPerAddress})`);
      return false;
    }
    this.open++;
    if (capped) this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.open--;
      if (!capped) return;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
    return true;
  }

  get openConnections(): number {
    return this.open;
  }

  private refuse(socket: Socket, message: string): void {
    answerAndClose(socket, rawErrorResponse('too_many_connections', message, { 'Retry-After': RETRY_AFTER_SECONDS }));
  }
}
