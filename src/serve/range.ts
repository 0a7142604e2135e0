// Strict `Range: bytes=...` parsing (RFC 9110 §14). Pure: no I/O.
//
// Guiding principle: a server MAY always ignore Range and send 200 with the
// whole body, so whenever the header is not exactly well-formed we ignore it
// rather than guess. Guessing (e.g. reading `bytes=10` as `10-`) is how
// parsers end up serving bytes nobody asked for.

export interface ByteRange {
  start: number; // inclusive
  end: number; // inclusive
}

export type RangeParse =
  | { kind: 'none' } // serve the whole body: absent, malformed, too many, amplified
  | { kind: 'unsatisfiable' } // valid syntax, but no range overlaps the body → 416
  | { kind: 'ranges'; ranges: ByteRange[] }; // sorted, disjoint, non-adjacent

export const DEFAULT_MAX_RANGES = 16;

// The unit is matched case-insensitively because RFC 9110 §14.1 says range
// units are compared case-insensitively. Everything after `=` is strict.
const UNIT_PREFIX = /^bytes=/i;
// One range-spec: `a-b`, `a-` or `-n`, digits only. `-` alone is rejected
// because the alternation requires at least one side to have digits.
const RANGE_SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;
// Optional whitespace is allowed only around the commas of the list.
const LIST_SEPARATOR = /[ \t]*,[ \t]*/;

const NONE: RangeParse = { kind: 'none' };

export function parseRange(
  header: string | undefined,
  size: number,
  opts?: { maxRanges?: number },
): RangeParse {
  assertSize(size);
  const maxRanges = opts?.maxRanges ?? DEFAULT_MAX_RANGES;
  if (header === undefined) return NONE;
  // Zero-length body: RFC 9110 would make every range unsatisfiable (416),
  // but there is no byte to serve either way and a 416 for an empty file
  // breaks resuming clients and media players for no benefit. Ignoring Range
  // is always permitted, so we answer 200 with an empty body.
  if (size === 0) return NONE;
  if (!UNIT_PREFIX.test(header)) return NONE; // unknown unit or no `=`

  const specs = header.slice('bytes='.length).split(LIST_SEPARATOR);
  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    // An empty element (`bytes=`, `0-1,,2-3`, leading/trailing space) fails
    // the regex, so the whole header is ignored.
    const m = RANGE_SPEC.exec(spec);
    if (m === null) return NONE;
    const [, first, last, suffix] = m;
    if (suffix !== undefined) {
      const n = Number(suffix);
      // `-0` asks for zero bytes: syntactically fine, never satisfiable.
      if (n === 0) continue;
      // A suffix longer than the body means "the whole body".
      satisfiable.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const start = Number(first);
    const end = last === '' ? Infinity : Number(last);
    // last < first makes the spec invalid (not merely unsatisfiable), and an
    // invalid spec poisons the whole header.
    if (end < start) return NONE;
    if (start >= size) continue; // unsatisfiable, but others may still be
    satisfiable.push({ start, end: Math.min(end, size - 1) });
  }
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };

  // Amplification guard (same rule as Go's net/http): a client asking for
  // more bytes in total than the body holds is either broken or trying to
  // make us do extra work, so it gets the body once. This must be checked
  // BEFORE merging: merged ranges are disjoint and can never exceed size,
  // which is exactly why `0-,0-,0-` would otherwise slip through.
  if (totalLength(satisfiable) > size) return NONE;

  const merged = mergeRanges(satisfiable);
  if (merged.length > maxRanges) return NONE;
  return { kind: 'ranges', ranges: merged };
}

/** Sorts and coalesces overlapping AND adjacent ranges (`0-4,5-9` → `0-9`). */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  // Parts are emitted in ascending order; each part carries its own
  // Content-Range, so clients do not depend on request order.
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1) {
      last.end = Math.max(last.end, r.end);
    } else {
      out.push({ start: r.start, end: r.end });
    }
  }
  return out;
}

export function rangeLength(r: ByteRange): number {
  return r.end - r.start + 1;
}

function totalLength(ranges: readonly ByteRange[]): number {
  let sum = 0;
  for (const r of ranges) sum += rangeLength(r);
  return sum;
}

/** `Content-Range` value for a 206 (single range or multipart part). */
export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`;
}

/** `Content-Range` value for a 416. */
export function unsatisfiedContentRange(size: number): string {
  return `bytes */${size}`;
}

function assertSize(size: number): void {
  // A bad size is a caller bug, not a client error: fail loudly.
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TypeError(`invalid representation size: ${size}`);
  }
}
