// Pure status decision for serving a stored representation (no I/O, no
// Fastify). The caller maps the Decision onto headers/body:
//   200 → whole body; 206 → one range, or multipart/byteranges when several;
//   304 → validatorHeaders() + Cache-Control, no Content-Length/Content-Type;
//   412 → no body; 416 → `Content-Range: bytes */size`.
import { parseRange, type ByteRange } from './range.js';

export interface Representation {
  size: number;
  etag: string; // strong, already quoted: "abc"
  lastModified: Date;
}

export interface RequestFacts {
  method: string;
  headers: {
    range?: string;
    'if-range'?: string;
    'if-match'?: string;
    'if-none-match'?: string;
    'if-modified-since'?: string;
    'if-unmodified-since'?: string;
  };
}

export type Decision =
  | { status: 200; ranges: null }
  | { status: 206; ranges: ByteRange[] } // one or more (more → multipart)
  | { status: 304 | 412 }
  | { status: 416 };

export function decide(req: RequestFacts, rep: Representation): Decision {
  assertRepresentation(rep);
  const h = req.headers;
  // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
  const isGetOrHead = req.method === 'GET' || req.method === 'HEAD';
  const lastModified = lastModifiedSeconds(rep);

  // RFC 9110 §13.2.2 evaluation order. Preconditions that can fail with 412
  // come first, so 412 always wins over 304.
  if (h['if-match'] !== undefined) {
    if (!ifMatchPasses(h['if-match'], rep.etag)) return { status: 412 };
  } else if (h['if-unmodified-since'] !== undefined) {
    const date = parseHttpDate(h['if-unmodified-since']);
    // An invalid date means the header is ignored (§13.1.4).
    if (date !== null && lastModified > date) return { status: 412 };
  }

  if (h['if-none-match'] !== undefined) {
    if (ifNoneMatchMatches(h['if-none-match'], rep.etag)) {
      // For unsafe methods a match means "don't act", which is 412.
      return { status: isGetOrHead ? 304 : 412 };
    }
  } else if (isGetOrHead && h['if-modified-since'] !== undefined) {
    const date = parseHttpDate(h['if-modified-since']);
    if (date !== null && lastModified <= date) return { status: 304 };
  }

  // Ranges only apply to GET/HEAD (HEAD mirrors GET's headers so clients can
  // probe what a ranged GET would return).
  if (!isGetOrHead || h.range === undefined) return { status: 200, ranges: null };
  if (h['if-range'] !== undefined && !ifRangePasses(h['if-range'], rep.etag, lastModified)) {
    return { status: 200, ranges: null };
  }
  const parsed = parseRange(h.range, rep.size);
  switch (parsed.kind) {
    case 'none':
      return { status: 200, ranges: null };
    case 'unsatisfiable':
      return { status: 416 };
    case 'ranges':
      return { status: 206, ranges: parsed.ranges };
  }
}

export function validatorHeaders(rep: Representation): { ETag: string; 'Last-Modified': string } {
  assertRepresentation(rep);
  // toUTCString() is IMF-fixdate and drops milliseconds, which is exactly the
  // second precision the comparisons below use.
  return { ETag: rep.etag, 'Last-Modified': rep.lastModified.toUTCString() };
}

// ---------------------------------------------------------------- validators

interface EntityTag {
  weak: boolean;
  opaque: string; // including the quotes
}

// etagc = %x21 / %x23-7E / obs-text; note that a comma IS allowed inside the
// quotes, so the list cannot be split naively on ','.
const ENTITY_TAG = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")/;
const STRONG_ETAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;

/** `*`, a list of entity tags, or null when the field value is malformed. */
export function parseEntityTagList(value: string): '*' | EntityTag[] | null {
  const v = value.trim();
  if (v === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = v;
  for (;;) {
    const m = ENTITY_TAG.exec(rest);
    if (m === null) return null;
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
    rest = rest.slice(m[0].length);
    if (rest === '') return tags;
    const sep = /^[ \t]*,[ \t]*/.exec(rest);
    if (sep === null) return null;
    rest = rest.slice(sep[0].length);
  }
}

function ifMatchPasses(value: string, etag: string): boolean {
  const tags = parseEntityTagList(value);
  if (tags === '*') return true; // the representation exists
  // Malformed If-Match fails closed: it exists to prevent acting on a
  // representation the client did not expect.
  if (tags === null) return false;
  return tags.some((t) => !t.weak && t.opaque === etag); // strong comparison
}

function ifNoneMatchMatches(value: string, etag: string): boolean {
  const tags = parseEntityTagList(value);
  if (tags === '*') return true;
  // Malformed If-None-Match fails open: the client just gets a full response.
  if (tags === null) return false;
  return tags.some((t) => t.opaque === etag); // weak comparison ignores W/
}

function ifRangePasses(value: string, etag: string, lastModified: number): boolean {
  const v = value.trim();
  // RFC 9110 §13.1.5: an entity tag is recognised by its leading DQUOTE (or W/).
  if (v.startsWith('"') || v.startsWith('W/')) {
    const tags = parseEntityTagList(v);
    // Exactly one tag, strong comparison; a weak tag never matches because
    // bytes from two "equivalent" versions must not be spliced together.
    return Array.isArray(tags) && tags.length === 1 && !tags[0]!.weak && tags[0]!.opaque === etag;
  }
  const date = parseHttpDate(v);
  // Dates must match exactly; anything older/newer or unparseable means the
  // client's copy may differ, so it gets the full body.
  return date !== null && date === lastModified;
}

// ---------------------------------------------------------------- HTTP-date

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(?<hh>\\d{2}):(?<mm>\\d{2}):(?<ss>\\d{2})';
const MON = `(?<mon>${MONTHS.join('|')})`;
// The three formats a recipient must accept (RFC 9110 §5.6.7). Date.parse
// is not used because it accepts almost anything ("1", "2020") and a lenient
// date would turn a garbage If-Range into a successful match.
const HTTP_DATE_FORMATS = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?<day>\\d{2}) ${MON} (?<year>\\d{4}) ${TIME} GMT$`),
  // obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  new RegExp(
    `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (?<day>\\d{2})-${MON}-(?<yy>\\d{2}) ${TIME} GMT$`,
  ),
  // obsolete asctime: Sun Nov  6 08:49:37 1994
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MON} (?<day>[ \\d]\\d) ${TIME} (?<year>\\d{4})$`),
];

/** Milliseconds since epoch (whole seconds), or null if not a valid HTTP-date. */
export function parseHttpDate(value: string): number | null {
  const v = value.trim();
  let g: Record<string, string | undefined> | undefined;
  for (const re of HTTP_DATE_FORMATS) {
    g = re.exec(v)?.groups;
    if (g !== undefined) break;
  }
  if (g === undefined) return null;
  // Two-digit RFC 850 years: RFC 9110 says to pick the most recent past year
  // with those digits; a fixed 1970–2069 window is close enough here.
  const yy = g.yy === undefined ? undefined : Number(g.yy);
  const year = yy === undefined ? Number(g.year) : yy < 70 ? 2000 + yy : 1900 + yy;
  const month = MONTHS.indexOf(g.mon!);
  const [day, hh, mm, ss] = [g.day, g.hh, g.mm, g.ss].map((x) => Number(x!.trim())) as [number, number, number, number];
  const d = new Date(Date.UTC(year, month, day, hh, mm, ss));
  // Reject overflowing components such as 31 Feb or 25:00:00 instead of
  // letting Date.UTC roll them into a different, valid instant (this also
  // rejects years < 100, which Date.UTC would map to 19xx).
  const roundTrips =
    d.getUTCFullYear() === year && d.getUTCMonth() === month && d.getUTCDate() === day &&
    d.getUTCHours() === hh && d.getUTCMinutes() === mm && d.getUTCSeconds() === ss;
  return roundTrips ? d.getTime() : null;
}

// --------------------------------------------------------------- invariants

function lastModifiedSeconds(rep: Representation): number {
  // Last-Modified is sent with second precision, so comparisons must use the
  // same precision or a file modified at .500s would never be "not modified".
  return Math.floor(rep.lastModified.getTime() / 1000) * 1000;
}

function assertRepresentation(rep: Representation): void {
  // These are caller bugs (bad stat / bad etag generator), not client errors.
  if (!Number.isSafeInteger(rep.size) || rep.size < 0) throw new TypeError(`invalid size: ${rep.size}`);
  if (!STRONG_ETAG.test(rep.etag)) throw new TypeError(`etag must be a quoted strong entity tag: ${rep.etag}`);
  if (Number.isNaN(rep.lastModified.getTime())) throw new TypeError('invalid lastModified date');
}
