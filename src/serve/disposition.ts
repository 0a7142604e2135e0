// Content-Disposition and related anti-XSS headers for user-uploaded files.
// Anything a browser could execute in our origin (HTML, SVG, XML, scripts) is
// forced to download and sandboxed, whatever the client asked for.
import createContentDisposition from 'content-disposition';

export type DispositionType = 'inline' | 'attachment';

export function isActiveContentType(mime: string): boolean {
  // Parameters (`; charset=...`) never change how a browser treats the type.
  const essence = (mime.split(';', 1)[0] ?? '').trim().toLowerCase();
  const m = /^([a-z0-9!#$&^_.+-]+)\/([a-z0-9!#$&^_.+-]+)$/.exec(essence);
  // Unparseable types fail closed: we cannot tell what a browser would do.
  if (m === null) return true;
  const [, type, subtype] = m as unknown as [string, string, string];
  if (essence === 'text/html' || essence === 'application/xhtml+xml' || essence === 'image/svg+xml') {
    return true;
  }
  // Any XML can carry XHTML/SVG namespaces or an XSLT stylesheet that runs script.
  if ((type === 'text' || type === 'application') && /^xml(?:-|$)/.test(subtype)) return true;
  if (subtype.endsWith('+xml')) return true;
  // text/javascript, application/x-javascript, text/ecmascript, text/jscript, …
  if (/javascript|ecmascript|^jscript$|^livescript$/.test(subtype)) return true;
  return false;
}

export function dispositionHeaders(
  filename: string,
  mime: string,
  requested: DispositionType | undefined,
): Record<string, string> {
  const active = isActiveContentType(mime);
  // Active content is never inline: rendering it would run uploader-controlled
  // script with our origin's cookies.
  const type: DispositionType = active || requested === 'attachment' ? 'attachment' : 'inline';
  const name = sanitizeFilename(filename);
  const headers: Record<string, string> = {
    // The package emits `filename*=UTF-8''…` (RFC 8187) only when the ASCII
    // fallback differs from the real name, so plain names stay short.
    'Content-Disposition': createContentDisposition(name, { type, fallback: asciiFallback(name) }),
    // Without nosniff a browser may "detect" HTML in a text/plain upload.
    'X-Content-Type-Options': 'nosniff',
  };
  // Defence in depth if a browser renders it anyway (e.g. opened via a link
  // that ignores Content-Disposition): no script, no same-origin access.
  if (active) headers['Content-Security-Policy'] = 'sandbox';
  return headers;
}

// C0/C1 controls (incl. CR/LF/NUL/DEL) plus invisible formatting characters:
// bidi overrides like U+202E make "evil\u202Etxt.exe" display as "evilexe.txt".
const STRIP = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;
// encodeURIComponent throws URIError on unpaired surrogates.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Never throws; the result is non-empty, well-formed and free of controls. */
export function sanitizeFilename(filename: string): string {
  const cleaned = filename
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(STRIP, '')
    // The name is a leaf for the user's download folder, never a path.
    .replace(/[/\\]/g, '_')
    .trim();
  return cleaned === '' ? 'download' : cleaned;
}

function asciiFallback(name: string): string {
  // Iterate by code point so one emoji becomes one `_`, not two. `"` and `\`
  // are replaced rather than escaped because some clients mishandle
  // quoted-pairs; `%` because some clients percent-decode `filename=`.
  let out = '';
  for (const ch of name) out += /^[\x20-\x7e]$/.test(ch) && !/["\\%]/.test(ch) ? ch : '_';
  return out;
}
