// Reference: the least a tus server can do, at /files — creation, HEAD and PATCH with the bytes
// read and dropped (nothing stored, nothing hashed, no auth). What tus-js-client on this machine
// can send at most: the ceiling any tus server is measured under in the same run.
import http from 'node:http';

const uploads = new Map();
let next = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/__ready') return res.end('ok');
  const reply = (status, headers = {}) => {
    res.writeHead(status, { 'Tus-Resumable': '1.0.0', ...headers });
    res.end();
  };
  if (req.method === 'POST' && req.url === '/files') {
    const id = String(++next);
    uploads.set(id, { offset: 0, length: Number(req.headers['upload-length'] ?? NaN) });
    req.resume();
    return req.on('end', () => reply(201, { Location: `/files/${id}`, 'Upload-Offset': '0' }));
  }
  const up = uploads.get(req.url.slice('/files/'.length));
  if (!up) return reply(404);
  if (req.method === 'HEAD') return reply(200, { 'Upload-Offset': String(up.offset), 'Upload-Length': String(up.length), 'Cache-Control': 'no-store' });
  if (req.method !== 'PATCH' || Number(req.headers['upload-offset']) !== up.offset) return reply(409);
  req.on('data', (chunk) => (up.offset += chunk.length));
  req.on('end', () => reply(204, { 'Upload-Offset': String(up.offset) }));
});
server.requestTimeout = 0;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
