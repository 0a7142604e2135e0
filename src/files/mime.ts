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
import { MIMEType } from 'whatwg-mimetype';

export const OCTET_STREAM = 'application/octet-stream';

/** Longest type accepted from a client (a real one is a few dozen characters). */
export const MAX_MIME_LENGTH = 255;

// A charset name as registered with IANA (utf-8, iso-8859-1, windows-1252, shift_jis, …).
const CHARSET = /^[a-z0-9][a-z0-9._:+-]{0,39}$/;

/**
 * The canonical form of `input`: `type/subtype` in lower case, plus `; charset=<name>` when a
 * valid charset was given. Never throws; every doubtful input is application/octet-stream:
 *  - a comma anywhere (a second type for the Fetch algorithm, even inside quotes);
 *  - anything the WHATWG parser refuses (no subtype, non-token characters, control bytes);
 *  - `multipart/*`: a browser reads the body's own parts and their types
 *    (`multipart/x-mixed-replace` renders an HTML part), so the outer type says nothing.
 * Other parameters are dropped: none changes how a stored file should be shown.
 */
export function normaliseMime(input: string): string {
  if (input.length === 0 || input.length > MAX_MIME_LENGTH || input.includes(',')) return OCTET_STREAM;
  if (!/^[\x20-\x7e\t]+$/.test(input)) return OCTET_STREAM;
  const parsed = MIMEType.parse(input);
  if (parsed === null || parsed.type === 'multipart') return OCTET_STREAM;
  const charset = parsed.parameters.get('charset')?.toLowerCase();
  return charset !== undefined && CHARSET.test(charset) ? `${parsed.essence}; charset=${charset}` : parsed.essence;
}

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
