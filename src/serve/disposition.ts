// Content-Disposition and the anti-XSS headers for user-uploaded files. A stored file is
// uploader-controlled bytes in our origin (the API's, the cookie's), so whether a browser may
// render it is decided by an allow-list of passive types (files/mime.ts), never a deny-list
// of "active" ones: browsers run script from types no list anticipated (F-01).
import createContentDisposition from 'content-disposition';
import { isPassiveType } from '../files/mime.js';
import { boundedMemo } from '../util/memo.js';

export type DispositionType = 'inline' | 'attachment';

/**
 * On every file response (200, 206, 304, HEAD, multi-range, ZIP, X-Accel). `sandbox` gives
 * the document an opaque origin with scripts, forms and popups off, so even a browser that
 * renders a file we did not expect it to cannot reach our cookies or API; `default-src
 * 'none'` stops it loading anything, except images and media from itself so a picture or a
 * video opened directly still shows. nosniff stops a browser "detecting" HTML in a
 * text/plain or image upload.
 */
export const FILE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'";

export const fileSafetyHeaders = (): Record<string, string> => ({
  'Content-Security-Policy': FILE_CSP,
  'X-Content-Type-Options': 'nosniff',
});

/** Inline only for passive types and only when not asked for an attachment. */
export function dispositionType(mime: string, requested: DispositionType | undefined): DispositionType {
  return isPassiveType(mime) && requested !== 'attachment' ? 'inline' : 'attachment';
}

export function dispositionHeaders(
  filename: string,
  mime: string,
  requested: DispositionType | undefined,
): Record<string, string> {
  return {
    'Content-Disposition': contentDisposition(`${dispositionType(mime, requested)}/${filename}`),
    ...fileSafetyHeaders(),
  };
}

/** Header values remembered (filename and type → value): ~4 µs each to build, per download. */
export const DISPOSITION_MEMO_LIMIT = 512;

/**
 * The Content-Disposition value for `type/filename` (the type has no slash), remembered: a
 * pure function of the two, and small files are fetched again and again.
 */
const contentDisposition = boundedMemo(DISPOSITION_MEMO_LIMIT, (id) => {
  const slash = id.indexOf('/');
  const name = sanitizeFilename(id.slice(slash + 1));
  // The package emits `filename*=UTF-8''…` (RFC 8187) only when the ASCII
  // fallback differs from the real name, so plain names stay short.
  return createContentDisposition(name, { type: id.slice(0, slash) as DispositionType, fallback: asciiFallback(name) });
});

/** Entries remembered now (tests check the bound). */
export const dispositionMemoSize = (): number => contentDisposition.size;

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
