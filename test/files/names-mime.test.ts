import { describe, expect, it } from 'vitest';
import { isPassiveType, normaliseMime, OCTET_STREAM } from '../../src/files/mime.js';
import { mimeSchema } from '../../src/files/names.js';

describe('F-01 stored MIME types are parsed and normalised', () => {
  it.each([
    // The review's variants: a comma (a second type for the Fetch algorithm) in any place.
    ['text/plain; x=1, text/html', OCTET_STREAM],
    ['text/plain;,text/html', OCTET_STREAM],
    ['text/plain, text/html', OCTET_STREAM],
    ['text/plain; charset="utf-8, text/html"', OCTET_STREAM],
    ['text/plain; charset=utf-8,text/html', OCTET_STREAM],
    // Bodies with their own parts and types.
    ['multipart/x-mixed-replace;boundary=x', OCTET_STREAM],
    ['multipart/x-mixed-replace', OCTET_STREAM],
    ['multipart/related; type=text/html', OCTET_STREAM],
    // Unparseable forms.
    ['', OCTET_STREAM],
    ['html', OCTET_STREAM],
    ['text/', OCTET_STREAM],
    ['/html', OCTET_STREAM],
    ['text /html', OCTET_STREAM],
    ['text/ht ml', OCTET_STREAM],
    ['text/html/x', OCTET_STREAM],
    ['"text/html"', OCTET_STREAM],
    ['text/html\r\nX-Evil: 1', OCTET_STREAM],
    ['text/plain\u0000', OCTET_STREAM],
    ['text/plain; charset=utf-8\u00e9', OCTET_STREAM],
    ['text/' + 'a'.repeat(300), OCTET_STREAM],
    // Canonical essence: lower case, no whitespace, no empty parameter list.
    ['TEXT/HTML', 'text/html'],
    ['text/html;', 'text/html'],
    [' Image/PNG ', 'image/png'],
    ['text/xsl', 'text/xsl'],
    ['text/rdf', 'text/rdf'],
    ['image/svg+xml', 'image/svg+xml'],
    ['application/xhtml+xml', 'application/xhtml+xml'],
    ['application/xml', 'application/xml'],
    ['text/javascript', 'text/javascript'],
    // charset is the one parameter kept, with a token value; quotes are unwrapped.
    ['text/plain; charset=UTF-8', 'text/plain; charset=utf-8'],
    ['text/plain;charset="iso-8859-1"', 'text/plain; charset=iso-8859-1'],
    ['text/plain; charset=utf-8; x=text/html', 'text/plain; charset=utf-8'],
    ['text/plain; x=1; charset=utf-8', 'text/plain; charset=utf-8'],
    ['text/plain; charset="a\\"b"', 'text/plain'],
    ['text/plain; charset="x y"', 'text/plain'],
    ['text/plain; charset=', 'text/plain'],
    ['text/plain; x=1', 'text/plain'],
    ['text/plain; x="text/html"', 'text/plain'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseMime(input)).toBe(expected);
    // Idempotent: a stored value normalises to itself at serve time.
    expect(normaliseMime(expected)).toBe(expected);
  });

  it('the upload schema stores the normal form silently (no 400 for a doubtful type)', () => {
    expect(mimeSchema.parse('text/plain; x=1, text/html')).toBe(OCTET_STREAM);
    expect(mimeSchema.parse('TEXT/HTML;')).toBe('text/html');
    expect(mimeSchema.parse('image/png')).toBe('image/png');
    expect(mimeSchema.parse('text/plain;charset=UTF-8;foo=bar')).toBe('text/plain; charset=utf-8');
  });

  it('refuses what is not a header value at all (400 naming the field upstream)', () => {
    expect(mimeSchema.safeParse('text/html\r\nX-Evil: 1').success).toBe(false);
    expect(mimeSchema.safeParse('text/plain\u00e9').success).toBe(false);
    expect(mimeSchema.safeParse('a/' + 'b'.repeat(300)).success).toBe(false);
    expect(mimeSchema.safeParse('').success).toBe(false);
  });

  it('passive types are judged on the normal form, never on the raw string', () => {
    expect(isPassiveType('text/plain; x=1, text/html')).toBe(false);
    expect(isPassiveType('image/png, text/html')).toBe(false);
    expect(isPassiveType('IMAGE/PNG')).toBe(true);
  });
});
