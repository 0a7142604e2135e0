/**
 * The one streamer behind `/storage/...` and `/get/...`: maps decide()'s verdict onto
 * headers and a body read through the BlobStore (never a path), or onto an
 * X-Accel-Redirect for nginx. Ranges and validators are decided in decide.ts / range.ts.
 *
 * A whole file or one range, on a store with `openReader` (disk, S3), is written by sendPooled
 * (pooled-body.ts) from recycled buffers, on the reply hijacked once every header is decided:
 * the head is written with the reply's headers (those hooks set included), and Fastify's
 * onResponse hooks and its access log still run on 'finish'. Other bodies go to
 * `reply.send(stream)`, which pipes with back-pressure and destroys the stream (closing its
 * file handle) when the client goes away. GET and HEAD are one route, so HEAD
 * never opens the file. With S3_DOWNLOAD_REDIRECT a GET is answered, after every check, with
 * a 302 to a presigned URL of the store.
 */
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FileRecord } from '../db/types.js';
import { encodeKeyPath } from '../files/keys.js';
import { normaliseMime } from '../files/mime.js';
import { etagOf } from '../files/records.js';
import { FileNotFound, PreconditionFailed, RangeNotSatisfiable } from '../errors/index.js';
import { SMALL_READ_BYTES, type BlobReader, type BlobStore } from '../storage/blob-store.js';
import { decide, validatorHeaders, type Decision, type Representation, type RequestFacts } from './decide.js';
import { dispositionHeaders, fileSafetyHeaders, type DispositionType } from './disposition.js';
import { multipartPlan, type MultipartPlan } from './multipart.js';
import { sendPooled } from './pooled-body.js';
import { contentRange, rangeLength, type ByteRange } from './range.js';

export interface ServeOptions {
  cacheControl: string;
  disposition?: DispositionType;
  /** ACCEL_REDIRECT_PREFIX (e.g. `/_protected/`): hand the bytes to nginx instead of streaming. */
  accelPrefix?: string;
  /** Added to every answer (e.g. `Referrer-Policy` on signed URLs). */
  extraHeaders?: Record<string, string>;
  /** Told the body length once a body has been sent whole (the bytes-out metric). */
  onSent?: (bytes: number) => void;
}

const CONDITIONAL_HEADERS = ['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;

/** The request facts decide() needs; repeated or array-valued headers count as absent. */
export function requestFacts(request: FastifyRequest): RequestFacts {
  const headers: RequestFacts['headers'] = {};
  for (const name of CONDITIONAL_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return { method: request.method, headers };
}

export function representationOf(file: FileRecord): Representation {
  // Objects are immutable (a new upload gets a new key), so the record's time is the
  // modification time, and the stored sha256 is a strong validator.
  return { size: file.size, etag: etagOf(file), lastModified: new Date(file.createdAt) };
}

/**
 * `X-Accel-Redirect` value for a file at `relative` (to UPLOAD_ROOT, as the BlobStore says:
 * not always the key, see accelPathOf): nginx percent-decodes it, so every segment is encoded.
 */
export const accelPath = (prefix: string, relative: string): string => `${prefix}${encodeKeyPath(relative)}`;

/** A body sendPooled writes: the open object and the inclusive range of it. */
interface PooledBody {
  reader: BlobReader;
  range: ByteRange;
}

/**
 * The bytes of `range` (the whole file when absent): in memory when small, else an open
 * reader (stores with openReader) or a stream. Bytes gone since the record was read make the
 * store throw BlobNotFound: a 404 like a missing record.
 */
async function bodyOf(blobs: BlobStore, key: string, size: number, range?: ByteRange): Promise<Readable | Buffer | PooledBody> {
  const wanted = range ?? (size > 0 ? { start: 0, end: size - 1 } : undefined);
  if (wanted === undefined) return blobs.read(key); // an empty file
  const length = rangeLength(wanted);
  if (length > SMALL_READ_BYTES) return blobs.openReader ? { reader: await blobs.openReader(key, wanted), range: wanted } : blobs.read(key, wanted);
  const bytes = await blobs.readSmall(key, wanted);
  // Headers promise Content-Length bytes: a blob shorter than its record is a server fault.
  if (bytes.length !== length) throw new Error(`blob ${key} is shorter than its record`);
  return bytes;
}

async function* multipartBody(blobs: BlobStore, key: string, plan: MultipartPlan): AsyncGenerator<Buffer> {
  for (const part of plan.parts) {
    yield Buffer.from(part.header, 'latin1');
    const stream = await blobs.read(key, part.range);
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      stream.destroy();
    }
  }
  yield Buffer.from(plan.trailer, 'latin1');
}

/**
 * Preconditions the store would judge by its own validators (its ETag is not ours): with one
 * of these the server answers itself, so that what it decided is what the client gets.
 */
const JUDGED_BY_US = ['if-match', 'if-unmodified-since', 'if-range'] as const;

/**
 * A presigned URL for the bytes (≤ 60 s), when the store offers one: for a GET answered 200 or
 * with one range (the client sends Range again to the store). HEAD, multi-range answers and
 * requests carrying preconditions the store would evaluate differently are answered here.
 */
async function downloadRedirect(request: FastifyRequest, blobs: BlobStore, file: FileRecord, mime: string, decision: Decision, opts: ServeOptions): Promise<string | null> {
  if (!blobs.downloadUrl || request.method !== 'GET') return null;
  if (decision.status !== 200 && !(decision.status === 206 && decision.ranges.length === 1)) return null;
  if (JUDGED_BY_US.some((name) => request.headers[name] !== undefined)) return null;
  const disposition = dispositionHeaders(file.filename, mime, opts.disposition)['Content-Disposition']!;
  return blobs.downloadUrl(file.key, { contentType: mime, contentDisposition: disposition, cacheControl: opts.cacheControl });
}

/** Answers a GET or HEAD for `file`. */
export async function serveFile(
  request: FastifyRequest,
  reply: FastifyReply,
  file: FileRecord,
  blobs: BlobStore,
  opts: ServeOptions,
): Promise<FastifyReply> {
  const rep = representationOf(file);
  // Records written before types were normalised at upload may hold anything (F-01): the
  // stored string is never sent as it is.
  const mime = normaliseMime(file.mime);
  const validators = validatorHeaders(rep);
  const extra = opts.extraHeaders ?? {};
  const decision = decide(requestFacts(request), rep);

  if (decision.status === 304) {
    return reply.code(304).headers({ ...validators, 'Cache-Control': opts.cacheControl, ...fileSafetyHeaders(), ...extra }).send();
  }
  if (decision.status === 412) throw new PreconditionFailed();
  if (decision.status === 416) throw new RangeNotSatisfiable(rep.size);

  const head = request.method === 'HEAD';
  // S3_DOWNLOAD_REDIRECT: every check has passed; the client fetches the bytes from the store.
  const redirect = await downloadRedirect(request, blobs, file, mime, decision, opts);
  if (redirect !== null) {
    return reply.code(302).headers({ Location: redirect, 'Cache-Control': 'no-store', ...extra }).send();
  }
  // Where nginx finds the bytes, when it is to send them (null: we stream them ourselves).
  const accelTarget = opts.accelPrefix === undefined ? null : blobs.accelPathOf(file.key);
  const accel = accelTarget !== null;
  const ranges = decision.status === 206 ? decision.ranges : null;
  // Everything that can still fail (a record whose bytes are gone) fails before any
  // header is set, so an error answer never carries this file's headers.
  let body: Readable | Buffer | PooledBody | undefined;
  if (accel || head || (ranges !== null && ranges.length > 1)) {
    if (!accel && (await blobs.stat(file.key)) === null) throw new FileNotFound();
  } else {
    body = await bodyOf(blobs, file.key, rep.size, ranges?.[0]);
  }

  reply.headers({
    'Accept-Ranges': 'bytes',
    ...validators,
    'Cache-Control': opts.cacheControl,
    ...dispositionHeaders(file.filename, mime, opts.disposition),
    ...extra,
  });

  if (accelTarget !== null) {
    // nginx answers Range itself from the file; validators were checked above.
    return reply.code(200).header('Content-Type', mime).header('X-Accel-Redirect', accelPath(opts.accelPrefix!, accelTarget)).send();
  }
  if (ranges === null) {
    reply.code(200).header('Content-Type', mime).header('Content-Length', String(rep.size));
  } else if (ranges.length === 1) {
    const range = ranges[0]!;
    reply
      .code(206)
      .header('Content-Type', mime)
      .header('Content-Range', contentRange(range, rep.size))
      .header('Content-Length', String(rangeLength(range)));
  } else {
    const plan = multipartPlan(ranges, rep.size, mime, randomBytes(12).toString('hex'));
    reply.code(206).header('Content-Type', plan.contentType).header('Content-Length', String(plan.length));
    if (!head) body = Readable.from(multipartBody(blobs, file.key, plan), { objectMode: false });
  }
  if (head || body === undefined) return reply.send();
  if (opts.onSent) {
    const length = Number(reply.getHeader('Content-Length'));
    reply.raw.once('finish', () => opts.onSent!(length));
  }
  if (Buffer.isBuffer(body) || body instanceof Readable) return reply.send(body);
  return sendHijacked(reply, body);
}

/**
 * Every header is decided: the head goes out as Fastify would write it (the reply's headers,
 * hooks' included), then the bytes from pooled buffers. Fastify logs and runs onResponse on
 * 'finish' as for any reply; an early end is logged as Fastify logs a stream's.
 */
function sendHijacked(reply: FastifyReply, body: PooledBody): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  void sendPooled(res, body.reader, body.range).then((outcome) => {
    if (outcome.sent === 'aborted') reply.log.info({ res: reply }, 'stream closed prematurely');
    else if (outcome.sent === 'failed') reply.log.warn({ err: outcome.error }, 'response terminated with an error with headers already sent');
  });
  return reply;
}
