// Reference: @fastify/static with its defaults, serving ROOT (the same tree as our UPLOAD_ROOT,
// so /storage/... names the same file).
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root: process.env.ROOT });
app.get('/__ready', async () => 'ok');
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
