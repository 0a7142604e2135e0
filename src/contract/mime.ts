/**
 * The canonical form of a MIME type (moved here from src/files/mime.ts so that the request
 * schemas the SDK shares can name it). A type arrives from the uploader, is stored, and is
 * sent back as `Content-Type` to browsers that open the file in our origin. Browsers do not
 * read a `Content-Type` the way a naive check does: the Fetch "extract a MIME type" algorithm
 * splits on commas and lets the last type win (`text/plain;,text/html` is HTML). So a type is
 * never passed through: it is parsed with the WHATWG algorithm and rebuilt from its essence
 * plus the one parameter we know (`charset`), and anything doubtful becomes
 * application/octet-stream. whatwg-mimetype is plain JavaScript (no Node built-ins), so this
 * module stays browser-safe.
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
