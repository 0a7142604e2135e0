/**
 * `Expect: 100-continue`: the `100 Continue` goes out only once the request is authorised.
 *
 * Node answers 100 by itself, before any of our code runs, unless the server has a
 * 'checkContinue' listener. Ours hands the request to Fastify unanswered; the 100 goes out in
 * a preParsing hook, which runs after every onRequest hook (the guard's among them) and before
 * a body parser reads a byte. A refused request gets its 401/403 without a 100, so the client
 * never sends the body.
 */
import type { FastifyInstance } from 'fastify';

export function registerExpectContinue(app: FastifyInstance): void {
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (request, reply, payload) => {
    const expect = request.headers.expect;
    if (typeof expect === 'string' && expect.toLowerCase() === '100-continue' && !reply.raw.headersSent) reply.raw.writeContinue();
    return payload;
  });
}
