// The AWS SDK talking to the bench's S3 server directly, in a process of its own (as our server
// is): the reference the S3 case compares our server with. Settings from the environment
// (S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY), the client set
// up as the notes tested it against Swift (checksums only when required). Prints one JSON line.
//
//   node s3-sdk.mjs put FILE KEY PART_BYTES QUEUE   lib-storage Upload (the SDK's own multipart upload) of FILE
//   node s3-sdk.mjs get KEY [KEY…]                 GetObject of each key in turn, bodies read and dropped
//                                                  (a key our server made an alias — an empty object whose
//                                                  x-amz-meta-sl-blob names, under S3_PREFIX, the object
//                                                  holding the bytes — is read where the bytes are; the
//                                                  HeadObjects that find out are not timed)
//   node s3-sdk.mjs get-ranged SEGMENT KEY [KEY…] the same, each object as ranged GETs of SEGMENT bytes in turn
//   node s3-sdk.mjs copy FROM TO                    CopyObject (server-side copy, as a completion does)
//   node s3-sdk.mjs delete KEY [KEY…]              DeleteObject of each (untimed housekeeping)
import { createReadStream } from 'node:fs';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const e = process.env;
const client = new S3Client({
  endpoint: e.S3_ENDPOINT,
  region: e.S3_REGION ?? 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const Bucket = e.S3_BUCKET;
const [op, ...args] = process.argv.slice(2);
let t0 = process.hrtime.bigint();
let bytes = 0;

if (op === 'put') {
  const [file, Key, part, queue] = args;
  const body = createReadStream(file, { highWaterMark: 1 << 20 });
  await new Upload({ client, params: { Bucket, Key, Body: body }, partSize: Number(part), queueSize: Number(queue) }).done();
  bytes = body.bytesRead;
} else if (op === 'get') {
  const names = [];
  for (const Key of args) {
    const blob = (await client.send(new HeadObjectCommand({ Bucket, Key }))).Metadata?.['sl-blob'];
    names.push(blob === undefined ? Key : (e.S3_PREFIX ?? '') + blob);
  }
  t0 = process.hrtime.bigint();
  for (const Key of names) {
    const res = await client.send(new GetObjectCommand({ Bucket, Key }));
    for await (const chunk of res.Body) bytes += chunk.length;
  }
} else if (op === 'get-ranged') {
  // The same reads as ranged GETs of SEGMENT bytes in turn (what our server sends, without its
  // read-ahead of the next segment's answer).
  const [segment, ...keys] = args;
  const S = Number(segment);
  const found = [];
  for (const Key of keys) {
    const blob = (await client.send(new HeadObjectCommand({ Bucket, Key }))).Metadata?.['sl-blob'];
    const name = blob === undefined ? Key : (e.S3_PREFIX ?? '') + blob;
    found.push({ name, size: (await client.send(new HeadObjectCommand({ Bucket, Key: name }))).ContentLength });
  }
  t0 = process.hrtime.bigint();
  for (const { name, size } of found) {
    for (let start = 0; start < size; start += S) {
      const res = await client.send(new GetObjectCommand({ Bucket, Key: name, Range: `bytes=${start}-${Math.min(size, start + S) - 1}` }));
      for await (const chunk of res.Body) bytes += chunk.length;
    }
  }
} else if (op === 'copy') {
  const [from, Key] = args;
  await client.send(new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${from.split('/').map(encodeURIComponent).join('/')}` }));
} else if (op === 'delete') {
  for (const Key of args) await client.send(new DeleteObjectCommand({ Bucket, Key }));
} else {
  throw new Error(`unknown operation ${op}`);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(`${JSON.stringify({ seconds, bytes, rssMB: process.memoryUsage().rss / 1e6 })}\n`);
client.destroy();
