import { describe, expect, it } from 'vitest';
import {
  decide,
  parseHttpDate,
  validatorHeaders,
  type Decision,
  type Representation,
  type RequestFacts,
} from '../../src/serve/decide.js';

// Sub-second mtime on purpose: comparisons must use second precision.
const REP: Representation = { size: 1000, etag: '"abc"', lastModified: new Date('2024-01-02T03:04:05.678Z') };
const LM = 'Tue, 02 Jan 2024 03:04:05 GMT';
const LM_MINUS_1S = 'Tue, 02 Jan 2024 03:04:04 GMT';
const LM_PLUS_1S = 'Tue, 02 Jan 2024 03:04:06 GMT';

type H = RequestFacts['headers'];
const OK: Decision = { status: 200, ranges: null };
const NOT_MODIFIED: Decision = { status: 304 };
const FAILED: Decision = { status: 412 };
const r10: Decision = { status: 206, ranges: [{ start: 0, end: 9 }] };

function run(method: string, headers: H, rep: Representation = REP): Decision {
  return decide({ method, headers }, rep);
}

describe('decide: ranges', () => {
  const cases: [string, string, H, Decision][] = [
    ['plain GET', 'GET', {}, OK],
    ['plain HEAD', 'HEAD', {}, OK],
    ['GET single range', 'GET', { range: 'bytes=0-9' }, r10],
    ['HEAD single range', 'HEAD', { range: 'bytes=0-9' }, r10],
    ['GET several ranges', 'GET', { range: 'bytes=0-9,20-29' }, {
      status: 206,
      ranges: [{ start: 0, end: 9 }, { start: 20, end: 29 }],
    }],
    ['GET malformed range is ignored', 'GET', { range: 'bytes=10' }, OK],
    ['GET unknown unit is ignored', 'GET', { range: 'items=0-1' }, OK],
    ['GET unsatisfiable range', 'GET', { range: 'bytes=1000-' }, { status: 416 }],
    ['GET -0', 'GET', { range: 'bytes=-0' }, { status: 416 }],
    ['GET amplified range', 'GET', { range: 'bytes=0-,0-,0-' }, OK],
    ['POST ignores Range', 'POST', { range: 'bytes=0-9' }, OK],
    ['methods are case-sensitive', 'get', { range: 'bytes=0-9' }, OK],
  ];
  it.each(cases)('%s', (_name, method, headers, expected) => {
    expect(run(method, headers)).toEqual(expected);
  });

  it('an empty file ignores Range (documented choice: 200, not 416)', () => {
    expect(run('GET', { range: 'bytes=0-0' }, { ...REP, size: 0 })).toEqual(OK);
  });
});

describe('decide: If-Match / If-Unmodified-Since', () => {
  const cases: [string, H, Decision][] = [
    ['matching tag', { 'if-match': '"abc"' }, OK],
    ['different tag', { 'if-match': '"xyz"' }, FAILED],
    ['star', { 'if-match': '*' }, OK],
    ['weak tag never matches (strong comparison)', { 'if-match': 'W/"abc"' }, FAILED],
    ['list containing the tag', { 'if-match': '"xyz", "abc"' }, OK],
    ['list without the tag', { 'if-match': '"x","y"' }, FAILED],
    ['malformed (unquoted) fails closed', { 'if-match': 'abc' }, FAILED],
    ['star inside a list is malformed', { 'if-match': '*, "abc"' }, FAILED],
    ['IUS equal to Last-Modified', { 'if-unmodified-since': LM }, OK],
    ['IUS later than Last-Modified', { 'if-unmodified-since': LM_PLUS_1S }, OK],
    ['IUS earlier than Last-Modified', { 'if-unmodified-since': LM_MINUS_1S }, FAILED],
    ['IUS invalid date is ignored', { 'if-unmodified-since': 'yesterday' }, OK],
    ['IUS ignored when If-Match present', { 'if-match': '"abc"', 'if-unmodified-since': LM_MINUS_1S }, OK],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(run('GET', headers)).toEqual(expected);
  });

  it('a comma inside an entity tag does not split it', () => {
    const rep = { ...REP, etag: '"a,b"' };
    expect(run('GET', { 'if-match': '"a,b"' }, rep)).toEqual(OK);
    expect(run('GET', { 'if-match': '"a"' }, rep)).toEqual(FAILED);
  });
});

describe('decide: If-None-Match / If-Modified-Since', () => {
  const cases: [string, string, H, Decision][] = [
    ['matching tag', 'GET', { 'if-none-match': '"abc"' }, NOT_MODIFIED],
    ['weak comparison ignores W/', 'GET', { 'if-none-match': 'W/"abc"' }, NOT_MODIFIED],
    ['list containing the tag', 'GET', { 'if-none-match': '"x", W/"y", "abc"' }, NOT_MODIFIED],
    ['list without the tag', 'GET', { 'if-none-match': '"x", "y"' }, OK],
    ['star', 'GET', { 'if-none-match': '*' }, NOT_MODIFIED],
    ['HEAD match', 'HEAD', { 'if-none-match': '"abc"' }, NOT_MODIFIED],
    ['unsafe method match is 412', 'POST', { 'if-none-match': '"abc"' }, FAILED],
    ['malformed fails open', 'GET', { 'if-none-match': 'abc' }, OK],
    ['IMS equal to Last-Modified (second precision)', 'GET', { 'if-modified-since': LM }, NOT_MODIFIED],
    ['IMS later than Last-Modified', 'GET', { 'if-modified-since': LM_PLUS_1S }, NOT_MODIFIED],
    ['IMS earlier than Last-Modified', 'GET', { 'if-modified-since': LM_MINUS_1S }, OK],
    ['IMS invalid date is ignored', 'GET', { 'if-modified-since': '2024-01-02' }, OK],
    ['IMS as RFC 850 date', 'GET', { 'if-modified-since': 'Tuesday, 02-Jan-24 03:04:05 GMT' }, NOT_MODIFIED],
    ['IMS as asctime date', 'GET', { 'if-modified-since': 'Tue Jan  2 03:04:05 2024' }, NOT_MODIFIED],
    ['IMS ignored for POST', 'POST', { 'if-modified-since': LM }, OK],
    ['IMS ignored when If-None-Match present', 'GET', { 'if-none-match': '"x"', 'if-modified-since': LM }, OK],
  ];
  it.each(cases)('%s', (_name, method, headers, expected) => {
    expect(run(method, headers)).toEqual(expected);
  });
});

describe('decide: precedence', () => {
  const cases: [string, H, Decision][] = [
    ['If-Match failure beats If-None-Match match', { 'if-match': '"xyz"', 'if-none-match': '"abc"' }, FAILED],
    ['IUS failure beats IMS not-modified', { 'if-unmodified-since': LM_MINUS_1S, 'if-modified-since': LM }, FAILED],
    ['412 beats Range', { 'if-match': '"xyz"', range: 'bytes=0-9' }, FAILED],
    ['304 beats Range', { 'if-none-match': '"abc"', range: 'bytes=0-9' }, NOT_MODIFIED],
    ['304 beats 416', { 'if-none-match': '"abc"', range: 'bytes=5000-' }, NOT_MODIFIED],
    ['passing preconditions still allow 206', { 'if-match': '"abc"', 'if-none-match': '"x"', range: 'bytes=0-9' }, r10],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(run('GET', headers)).toEqual(expected);
  });
});

describe('decide: If-Range', () => {
  const cases: [string, H, Decision][] = [
    ['strong matching tag', { range: 'bytes=0-9', 'if-range': '"abc"' }, r10],
    ['different tag', { range: 'bytes=0-9', 'if-range': '"old"' }, OK],
    ['weak tag never matches', { range: 'bytes=0-9', 'if-range': 'W/"abc"' }, OK],
    ['tag list is not allowed', { range: 'bytes=0-9', 'if-range': '"abc", "x"' }, OK],
    ['exact Last-Modified date', { range: 'bytes=0-9', 'if-range': LM }, r10],
    ['stale (older) date', { range: 'bytes=0-9', 'if-range': LM_MINUS_1S }, OK],
    ['newer date is not exact either', { range: 'bytes=0-9', 'if-range': LM_PLUS_1S }, OK],
    ['garbage value', { range: 'bytes=0-9', 'if-range': 'yesterday' }, OK],
    ['failing If-Range turns 416 into 200', { range: 'bytes=5000-', 'if-range': '"old"' }, OK],
    ['passing If-Range keeps 416', { range: 'bytes=5000-', 'if-range': '"abc"' }, { status: 416 }],
    ['If-Range without Range', { 'if-range': '"abc"' }, OK],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(run('GET', headers)).toEqual(expected);
  });
});

describe('parseHttpDate', () => {
  const ms = Date.UTC(1994, 10, 6, 8, 49, 37);
  it.each([
    ['Sun, 06 Nov 1994 08:49:37 GMT', ms],
    ['Sunday, 06-Nov-94 08:49:37 GMT', ms],
    ['Sun Nov  6 08:49:37 1994', ms],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
  ])('parses %j', (value, expected) => {
    expect(parseHttpDate(value)).toBe(expected);
  });

  it.each([
    '1',
    '2024',
    '1994-11-06T08:49:37Z',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 06 nov 1994 08:49:37 GMT',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:37 GMT',
    'Sun, 06 Nov 0050 08:49:37 GMT',
    'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT',
  ])('rejects %j', (value) => {
    expect(parseHttpDate(value)).toBeNull();
  });
});

describe('validatorHeaders', () => {
  it('returns the etag and an IMF-fixdate with second precision', () => {
    expect(validatorHeaders(REP)).toEqual({ ETag: '"abc"', 'Last-Modified': LM });
  });

  it('round-trips: its own Last-Modified yields 304 and a passing If-Range', () => {
    const lm = validatorHeaders(REP)['Last-Modified'];
    expect(run('GET', { 'if-modified-since': lm })).toEqual(NOT_MODIFIED);
    expect(run('GET', { range: 'bytes=0-9', 'if-range': lm })).toEqual(r10);
  });

  it.each([
    ['weak etag', { ...REP, etag: 'W/"abc"' }],
    ['unquoted etag', { ...REP, etag: 'abc' }],
    ['etag with CR/LF', { ...REP, etag: '"a\r\nb"' }],
    ['invalid date', { ...REP, lastModified: new Date('nope') }],
    ['negative size', { ...REP, size: -1 }],
  ])('rejects a representation with %s', (_name, rep) => {
    expect(() => validatorHeaders(rep)).toThrow(TypeError);
    expect(() => decide({ method: 'GET', headers: {} }, rep)).toThrow(TypeError);
  });
});
