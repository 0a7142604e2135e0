// Reference for small GETs (issue 18, item 4): a minimal Fastify 5 server, logger off, no auth,
// answering `GET /<path>` with the file at ROOT/<path> read whole per request.
//
// Per request: open, one read into a buffer the size of the file (up to 64 KiB), close: the
// same three system calls our `/storage` does for a small file (LocalDiskStore.readSmall), so
// the ratio measures everything around the read (auth, lookup, headers, hooks) and not a
// difference in I/O. Not `fs.promises.readFile`: it adds an fstat and a second read to find
// the end, i.e. more I/O than either server does. Not a cached buffer: that would measure no
// I/O at all. The file handle API (`fs.promises.open`), as our server uses.
import { open } from 'node:fs/promises';
import path from 'node:path';
import Fastify from 'fastify';

const ROOT = path.resolve(process.env.ROOT ?? '.');
const MAX = 64 * 1024;

const app = Fastify({ logger: false });
app.get('/__ready', async () => 'ok');
app.get('/*', async (request, reply) => {
  const file = path.join(ROOT, request.params['*']);
  if (!file.startsWith(ROOT + path.sep)) return reply.code(404).send();
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return reply.code(404).send();
  }
  try {
    const buf = Buffer.allocUnsafe(MAX);
    const { bytesRead } = await handle.read(buf, 0, MAX, 0);
    return reply.type('application/octet-stream').send(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
