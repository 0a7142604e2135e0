/**
 * tus 1.0.0 on the wire (https://tus.io/protocols/resumable-upload): the version, the
 * extensions we declare, and the parsers of the request headers. Each parser refuses what
 * the protocol calls malformed with a 400 naming the header; nothing here touches storage.
 */
import { InvalidInput, TusProtocolError } from '../errors/index.js';

export const TUS_VERSION = '1.0.0';
/**
 * "If the Server supports deferring length, it MUST add creation-defer-length to the
 * Tus-Extension header": it does (the quota holds MAX_BODY_MB until the length is known).
 * concatenation-unfinished is not declared (a final needs finished partials).
 */
export const TUS_EXTENSIONS = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'expiration', 'checksum', 'concatenation'];
export const CHECKSUM_ALGORITHMS = ['sha1', 'md5', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** The content type of every PATCH body (and of a creation-with-upload POST body). */
export const OFFSET_STREAM = 'application/offset+octet-stream';

/** Headers a browser app on another origin must be allowed to send and to read (CORS). */
export const TUS_REQUEST_HEADERS = ['Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Checksum', 'Upload-Concat', 'Upload-Defer-Length', 'X-HTTP-Method-Override', 'X-Requested-With'];
export const TUS_EXPOSED_HEADERS = ['Location', 'Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size', 'Tus-Checksum-Algorithm', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Expires', 'Upload-Concat', 'Upload-Defer-Length'];

type Headers = Record<string, string | string[] | undefined>;

const one = (headers: Headers, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * "The Tus-Resumable header MUST be included in every request and response except for OPTIONS
 * requests. If the Client requests a version the Server does not support, the Server MUST
 * respond with 412 Precondition Failed and MUST include the Tus-Version header."
 */
export function checkTusResumable(headers: Headers): void {
  const v = one(headers, 'tus-resumable');
  if (v !== TUS_VERSION) throw new TusProtocolError('tus_version_unsupported', `Tus-Resumable: this server speaks ${TUS_VERSION}, got ${v === undefined ? 'none' : JSON.stringify(v)}`);
}

/** A non-negative integer header ("Upload-Offset", "Upload-Length"), or undefined when absent. */
export function integerHeader(headers: Headers, name: string): number | undefined {
  const v = one(headers, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) > Number.MAX_SAFE_INTEGER) throw new InvalidInput('validation_error', `${name}: must be a non-negative integer`);
  return Number(v);
}

/**
 * "Upload-Defer-Length … Its value MUST be 1"; "If the Upload-Defer-Length header contains any
 * other value than 1 the server should return a 400 Bad Request status." True when deferred.
 */
export function parseDeferLength(headers: Headers): boolean {
  const v = one(headers, 'upload-defer-length');
  if (v === undefined) return false;
  if (v.trim() !== '1') throw new InvalidInput('validation_error', 'Upload-Defer-Length: must be 1');
  return true;
}

/**
 * "Upload-Metadata … consists of one or more comma-separated key-value pairs. The key and value
 * MUST be separated by a space. The key MUST NOT contain spaces and commas and MUST NOT be
 * empty. The key SHOULD be ASCII encoded and the value MUST be Base64 encoded. All keys MUST
 * be unique. The value MAY be empty."
 */
export function parseMetadata(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined || raw.trim() === '') return out;
  if (raw.length > 16 * 1024) throw new InvalidInput('validation_error', 'Upload-Metadata: longer than 16 KiB');
  for (const pair of raw.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || extra !== undefined || /[^\x21-\x7e]/.test(key)) throw new InvalidInput('validation_error', 'Upload-Metadata: each pair must be "key base64value"');
    if (Object.hasOwn(out, key)) throw new InvalidInput('validation_error', `Upload-Metadata: key ${key} given twice`);
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new InvalidInput('validation_error', `Upload-Metadata: the value of ${key} is not Base64`);
    out[key] = Buffer.from(value ?? '', 'base64').toString('utf8');
  }
  return out;
}

export function encodeMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => (v === '' ? k : `${k} ${Buffer.from(v, 'utf8').toString('base64')}`))
    .join(',');
}

/**
 * "Upload-Checksum: <algorithm> <Base64 digest>". "If the hash algorithm is not supported by
 * the server, it MUST respond with 400 Bad Request."
 */
export function parseChecksum(raw: string | undefined): { algorithm: ChecksumAlgorithm; digest: string } | undefined {
  if (raw === undefined) return undefined;
  const [algorithm, digest, extra] = raw.trim().split(' ');
  if (!CHECKSUM_ALGORITHMS.includes(algorithm as ChecksumAlgorithm)) {
    throw new InvalidInput('checksum_algorithm_unsupported', `Upload-Checksum: algorithm must be one of ${CHECKSUM_ALGORITHMS.join(', ')}`);
  }
  if (!digest || extra !== undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest)) throw new InvalidInput('invalid_checksum', 'Upload-Checksum: "<algorithm> <Base64 digest>" expected');
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}

export type ConcatRequest = { kind: 'partial' } | { kind: 'final'; urls: string[] } | undefined;

/** "Upload-Concat: partial" or "Upload-Concat: final;<url> <url> …" (space-separated URLs). */
export function parseConcat(raw: string | undefined): ConcatRequest {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (v === 'partial') return { kind: 'partial' };
  if (v.startsWith('final;')) {
    const urls = v.slice('final;'.length).trim().split(/\s+/).filter(Boolean);
    if (urls.length === 0 || urls.length > 1000) throw new InvalidInput('validation_error', 'Upload-Concat: final needs 1 to 1000 partial upload URLs');
    return { kind: 'final', urls };
  }
  throw new InvalidInput('validation_error', 'Upload-Concat: must be "partial" or "final;<urls>"');
}

/** "The Client MUST use the PATCH method … with Content-Type: application/offset+octet-stream", else 415. */
export function checkOffsetStream(headers: Headers): void {
  const type = one(headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== OFFSET_STREAM) throw new TusProtocolError('invalid_content_type', `Content-Type: must be ${OFFSET_STREAM}`);
}

/** The declared body length, or undefined for a chunked body. */
export function contentLength(headers: Headers): number | undefined {
  const v = one(headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}
