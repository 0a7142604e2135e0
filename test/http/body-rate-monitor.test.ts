/**
 * F-17 minimum body rate, the accounting: only time spent reading counts against the client.
 * A body not read yet (authorisation, a database call) or paused by our own back-pressure
 * (the disk slower than the client) never adds to the window.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BodyRateMonitor } from '../../src/http/body-rate.js';

describe('BodyRateMonitor counts only time spent reading', () => {
  function fakes(flowing: boolean | null) {
    const socket = { bytesRead: 0 };
    const req = { headers: { 'content-length': '1000000' }, socket, readableFlowing: flowing, complete: false, destroyed: false, once: () => req };
    const written: { status?: number; body?: string } = {};
    const res = {
      headersSent: false,
      destroyed: false,
      once: () => res,
      writeHead: (status: number) => (written.status = status),
      end: (body: string) => (written.body = body),
      destroy: () => (written.status = -1),
    };
    return { req, res, socket, written };
  }

  it('a paused body (our back-pressure) or one not read yet is never cut', () => {
    let now = 0;
    const monitor = new BodyRateMonitor({ minBytesPerSecond: 1000, windowMs: 1000 }, () => now);
    for (const flowing of [false, null]) {
      const f = fakes(flowing);
      monitor.watch(f.req as unknown as IncomingMessage, f.res as unknown as ServerResponse);
      for (let i = 0; i < 20; i++) {
        now += 500;
        monitor.tick();
      }
      expect(f.written.status).toBeUndefined();
    }
  });

  it('a body being read that brings too few bytes is cut; enough bytes pass', () => {
    let now = 0;
    const monitor = new BodyRateMonitor({ minBytesPerSecond: 1000, windowMs: 1000 }, () => now);
    const slow = fakes(true);
    const fast = fakes(true);
    monitor.watch(slow.req as unknown as IncomingMessage, slow.res as unknown as ServerResponse);
    monitor.watch(fast.req as unknown as IncomingMessage, fast.res as unknown as ServerResponse);
    for (let i = 0; i < 4; i++) {
      now += 500;
      slow.socket.bytesRead += 100;
      fast.socket.bytesRead += 800;
      monitor.tick();
    }
    expect(slow.written.status).toBe(408);
    expect(JSON.parse(slow.written.body!)).toMatchObject({ code: 'body_too_slow' });
    expect(fast.written.status).toBeUndefined();
  });

  it('time paused by us does not dilute the rate of the time spent reading', () => {
    let now = 0;
    const monitor = new BodyRateMonitor({ minBytesPerSecond: 1000, windowMs: 1000 }, () => now);
    const f = fakes(true);
    monitor.watch(f.req as unknown as IncomingMessage, f.res as unknown as ServerResponse);
    for (let i = 0; i < 10; i++) {
      // Half the time the disk holds us up (paused, no bytes); the other half the client sends 1500 B/s.
      f.req.readableFlowing = i % 2 === 0 ? false : true;
      now += 500;
      if (f.req.readableFlowing) f.socket.bytesRead += 750;
      monitor.tick();
    }
    expect(f.written.status).toBeUndefined();
  });
});
