// Layout of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1),
// computed up front so the streamer can send an exact Content-Length and
// then write: parts[0].header, bytes of parts[0].range, parts[1].header, …,
// trailer. Pure: the caller supplies the boundary (e.g. random hex).
import { contentRange, rangeLength, type ByteRange } from './range.js';

export interface MultipartPart {
  header: string; // delimiter + part headers + blank line, ASCII only
  range: ByteRange;
}

export interface MultipartPlan {
  contentType: string; // value for the response Content-Type header
  length: number; // exact body length in bytes (value for Content-Length)
  parts: MultipartPart[];
  trailer: string; // closing delimiter
}

// A conservative subset of RFC 2046 bchars: no characters that would need
// quoting in the Content-Type parameter, and at most 70 characters.
const BOUNDARY = /^[0-9A-Za-z_-]{1,70}$/;
// Printable ASCII only, so the string length equals the byte length and no
// CR/LF can inject extra part headers.
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

export function multipartPlan(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string,
  boundary: string,
): MultipartPlan {
  // All failures here are caller bugs (the ranges come from parseRange and the
  // boundary from our own generator), so throw rather than emit a body whose
  // Content-Length would be wrong.
  if (!BOUNDARY.test(boundary)) throw new TypeError(`invalid multipart boundary: ${boundary}`);
  if (!PRINTABLE_ASCII.test(contentType)) throw new TypeError('invalid part content type');
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`invalid size: ${size}`);
  if (ranges.length === 0) throw new TypeError('multipart needs at least one range');

  let length = 0;
  const parts = ranges.map((range, i) => {
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) ||
        range.start < 0 || range.start > range.end || range.end >= size) {
      throw new RangeError(`range ${range.start}-${range.end} outside 0-${size - 1}`);
    }
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046), so every
    // part but the first starts with one; the first follows an empty preamble.
    const header =
      (i === 0 ? '' : '\r\n') +
      `--${boundary}\r\n` +
      `Content-Type: ${contentType}\r\n` +
      `Content-Range: ${contentRange(range, size)}\r\n` +
      '\r\n';
    length += header.length + rangeLength(range);
    return { header, range: { start: range.start, end: range.end } };
  });
  const trailer = `\r\n--${boundary}--\r\n`;
  length += trailer.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, length, parts, trailer };
}
