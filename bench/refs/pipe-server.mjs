// Reference: a bare node:http server that pipes each request body to a new file under DIR with
// a 4 MiB write buffer (`?fsync=1` also fsyncs it before answering; `?sha256=1` hashes the bytes
// on the way in a pass-through Transform, on the main thread). No other checks.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const dir = process.env.DIR;
await fs.mkdir(dir, { recursive: true });
let n = 0;
const server = http.createServer(async (req, res) => {
  if (req.url === '/__ready') return res.end('ok');
  const url = new URL(req.url, 'http://x');
  const file = path.join(dir, `up-${process.pid}-${n++}`);
  try {
    const out = createWriteStream(file, { highWaterMark: 4 * 1024 * 1024 });
    let digest = null;
    if (url.searchParams.get('sha256') === '1') {
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(req, tap, out);
      digest = hash.digest('hex');
    } else {
      await pipeline(req, out);
    }
    if (url.searchParams.get('fsync') === '1') {
      const fh = await fs.open(file, 'r+');
      await fh.sync();
      await fh.close();
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ file, sha256: digest }));
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});
server.requestTimeout = 0;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
