/**
 * MIME types of stored files. A type arrives from the uploader, is stored, and is sent back
 * as `Content-Type` to browsers that open the file in our origin. Browsers do not read a
 * `Content-Type` the way a naive check does: the Fetch "extract a MIME type" algorithm splits
 * on commas and lets the last type win (`text/plain;,text/html` is HTML), and several types
 * that look harmless run script (`text/xsl`, `text/rdf`, `multipart/x-mixed-replace`).
 * So a type is never passed through: it is parsed with the WHATWG algorithm and rebuilt from
 * its essence plus the one parameter we know (`charset`), and anything doubtful becomes
 * application/octet-stream. Which types may be rendered inline is an allow-list, below.
 */
import { MAX_MIME_LENGTH, normaliseMime as parseAndNormalise } from '../contract/mime.js';
import { boundedMemo } from '../util/memo.js';

// The canonical form lives in the wire contract (src/contract/mime.ts), which the SDK shares.
export { MAX_MIME_LENGTH, OCTET_STREAM } from '../contract/mime.js';

/** Distinct stored types remembered; a deployment sees a few dozen. */
export const MIME_MEMO_LIMIT = 256;

/**
 * normaliseMime of the contract, remembered per input: every download sends the stored type
 * through the WHATWG parser (twice with the disposition), ~1.5 µs each, for the same few
 * dozen strings. Over-long inputs are not kept.
 */
export const normaliseMime = boundedMemo(MIME_MEMO_LIMIT, parseAndNormalise, (input) => input.length <= MAX_MIME_LENGTH);

/** Entries remembered now (tests check the bound). */
export const mimeMemoSize = (): number => normaliseMime.size;

/** `type/subtype` of an already normalised type. */
export const essenceOf = (mime: string): string => mime.split(';', 1)[0]!;

/**
 * May a file of this (normalised) type be shown inline in our origin? Only types a browser
 * renders with a media viewer or as plain text, never as a document that can run script:
 * images except SVG (and any XML-based image), audio, video, PDF and text/plain. Everything
 * else, known or not, is an attachment.
 */
export function isPassiveType(mime: string): boolean {
  const essence = essenceOf(normaliseMime(mime));
  if (essence === 'text/plain' || essence === 'application/pdf') return true;
  const [type, subtype = ''] = essence.split('/');
  if (type !== 'image' && type !== 'audio' && type !== 'video') return false;
  // image/svg+xml is a document; so is any "+xml" type a browser might parse as XML.
  return !/svg|xml/.test(subtype);
}
