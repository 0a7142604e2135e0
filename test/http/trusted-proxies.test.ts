/** TRUST_PROXY as the connection caps read it: the forms Fastify's trustProxy (proxy-addr) takes. */
import { describe, expect, it } from 'vitest';
import { trustedProxies } from '../../src/http/connection-limits.js';

describe('trustedProxies', () => {
  it('TRUST_PROXY forms: addresses, CIDR ranges, netmasks and names', () => {
    const trust = trustedProxies('10.0.0.1, 192.168.0.0/16, 172.16.0.0/255.240.0.0, loopback');
    expect(['10.0.0.1', '192.168.4.5', '172.20.1.1', '127.0.0.1', '::1'].every(trust)).toBe(true);
    expect(['10.0.0.2', '8.8.8.8', '172.32.0.1', '::2'].some(trust)).toBe(false);
    expect(trustedProxies(true)('8.8.8.8')).toBe(true);
    expect(trustedProxies(false)('127.0.0.1')).toBe(false);
  });
});
