// Reference: @tus/server with @tus/file-store (defaults) under DIR, at /files.
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import http from 'node:http';

const tus = new Server({ path: '/files', datastore: new FileStore({ directory: process.env.DIR }) });
const server = http.createServer((req, res) => {
  if (req.url === '/__ready') return res.end('ok');
  tus.handle(req, res);
});
server.requestTimeout = 0;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
