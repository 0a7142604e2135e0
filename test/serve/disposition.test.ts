import { validateHeaderValue } from 'node:http';
import { parse } from 'content-disposition';
import { describe, expect, it } from 'vitest';
import { isPassiveType } from '../../src/files/mime.js';
import { dispositionHeaders, dispositionType, FILE_CSP, sanitizeFilename } from '../../src/serve/disposition.js';

/** Every header must be acceptable to res.setHeader(), and filename must round-trip. */
function cd(filename: string, mime = 'application/pdf', requested?: 'inline' | 'attachment') {
  const headers = dispositionHeaders(filename, mime, requested);
  for (const [name, value] of Object.entries(headers)) {
    expect(() => validateHeaderValue(name, value)).not.toThrow();
  }
  const value = headers['Content-Disposition']!;
  return { headers, value, parsed: parse(value) };
}

const CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'";

describe('F-01 inline only for an allow-list of passive types', () => {
  it.each([
    'image/png',
    'image/jpeg',
    'image/gif',
    'image/webp',
    'IMAGE/PNG',
    'audio/mpeg',
    'video/mp4',
    'video/webm',
    'application/pdf',
    'text/plain',
    'text/plain; charset=utf-8',
  ])('%j may be inline', (mime) => {
    expect(isPassiveType(mime)).toBe(true);
    expect(dispositionType(mime, undefined)).toBe('inline');
    expect(dispositionType(mime, 'inline')).toBe('inline');
    expect(dispositionType(mime, 'attachment')).toBe('attachment');
  });

  it.each([
    // The review's bypasses of the old deny-list.
    'text/plain; x=1, text/html',
    'text/plain;,text/html',
    'text/plain, text/html',
    'text/xsl',
    'text/rdf',
    'multipart/x-mixed-replace;boundary=x',
    // What the deny-list did catch stays caught.
    'text/html',
    'TEXT/HTML',
    'text/html;',
    'image/svg+xml',
    'image/SVG+XML; charset=utf-8',
    'application/xhtml+xml',
    'text/xml',
    'application/xml',
    'application/rss+xml',
    'text/javascript',
    'application/javascript',
    // Unknown or harmless-looking types are attachments too: an allow-list, not a deny-list.
    'application/json',
    'text/csv',
    'text/css',
    'application/octet-stream',
    'application/x-shockwave-flash',
    'image/x-weird+xml',
    '',
    'html',
  ])('%j is always an attachment', (mime) => {
    expect(isPassiveType(mime)).toBe(false);
    expect(dispositionType(mime, 'inline')).toBe('attachment');
    expect(dispositionType(mime, undefined)).toBe('attachment');
  });
});

describe('dispositionHeaders: type selection', () => {
  it.each([
    ['passive defaults to inline', 'application/pdf', undefined, 'inline; filename="a.txt"'],
    ['passive honours attachment', 'application/pdf', 'attachment', 'attachment; filename="a.txt"'],
    ['passive honours inline', 'image/png', 'inline', 'inline; filename="a.txt"'],
    ['active ignores inline', 'text/html', 'inline', 'attachment; filename="a.txt"'],
    ['active defaults to attachment', 'image/svg+xml', undefined, 'attachment; filename="a.txt"'],
    ['active with parameters', 'Text/HTML; charset=utf-8', undefined, 'attachment; filename="a.txt"'],
  ] as const)('%s, always with CSP sandbox and nosniff', (_name, mime, requested, expected) => {
    const { headers } = cd('a.txt', mime, requested);
    expect(headers['Content-Disposition']).toBe(expected);
    expect(headers['X-Content-Type-Options']).toBe('nosniff');
    expect(headers['Content-Security-Policy']).toBe(CSP);
    expect(FILE_CSP).toBe(CSP);
  });
});

describe('dispositionHeaders: filenames', () => {
  it('plain ASCII with a space uses a quoted filename and no filename*', () => {
    const { value } = cd('my file.pdf');
    expect(value).toBe('inline; filename="my file.pdf"');
  });

  it('CJK gets an ASCII fallback plus RFC 8187 filename*', () => {
    const { value, parsed } = cd('报告.pdf');
    expect(value).toBe(`inline; filename="__.pdf"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf`);
    expect(parsed.parameters.filename).toBe('报告.pdf');
  });

  it('an emoji becomes a single fallback character', () => {
    const { value, parsed } = cd('📄 notes.txt');
    expect(value).toContain('filename="_ notes.txt"');
    expect(parsed.parameters.filename).toBe('📄 notes.txt');
  });

  it('a double quote is replaced in the fallback, kept in filename*', () => {
    const { value, parsed } = cd('say "hi".txt');
    expect(value).toContain('filename="say _hi_.txt"');
    expect(value).not.toContain('\\"');
    expect(parsed.parameters.filename).toBe('say "hi".txt');
  });

  it.each([
    ['CR', 'a\rSet-Cookie: x=1.txt', 'aSet-Cookie: x=1.txt'],
    ['LF', 'a\nSet-Cookie: x=1.txt', 'aSet-Cookie: x=1.txt'],
    ['CRLF', 'a\r\nb.txt', 'ab.txt'],
    ['NUL and BEL', '\u0000\u0007bell.txt', 'bell.txt'],
    ['DEL and C1', 'a\u007f\u0085b.txt', 'ab.txt'],
    ['bidi override', 'evil\u202Etxt.exe', 'eviltxt.exe'],
  ])('strips %s', (_name, input, expected) => {
    const { value, parsed } = cd(input);
    expect(value).not.toMatch(/[\r\n\u0000-\u001f\u007f]/);
    expect(parsed.parameters.filename).toBe(expected);
  });

  it('a semicolon cannot inject a parameter', () => {
    const { parsed } = cd('a;filename=evil.html;b=c.txt');
    expect(parsed.type).toBe('inline');
    expect(parsed.parameters.filename).toBe('a;filename=evil.html;b=c.txt');
    expect(Object.keys(parsed.parameters).sort()).toEqual(['filename']);
  });

  it('path separators are neutralised', () => {
    expect(cd('../etc/passwd').parsed.parameters.filename).toBe('.._etc_passwd');
    expect(cd('a\\b.txt').parsed.parameters.filename).toBe('a_b.txt');
  });

  it('a percent sign cannot be percent-decoded from the fallback', () => {
    const { value, parsed } = cd('%41.txt');
    expect(value).toBe(`inline; filename="_41.txt"; filename*=UTF-8''%2541.txt`);
    expect(parsed.parameters.filename).toBe('%41.txt');
  });

  it.each([
    ['ASCII', 'a'.repeat(251) + '.txt'],
    ['CJK', '汉'.repeat(85)],
    ['emoji', '😀'.repeat(63) + '.tx'],
  ])('a 255-byte %s name round-trips', (_name, name) => {
    expect(Buffer.byteLength(name)).toBe(255);
    expect(cd(name).parsed.parameters.filename).toBe(name);
  });

  it('a lone surrogate does not throw and becomes U+FFFD', () => {
    const { parsed } = cd('\ud800x\udc00.txt');
    expect(parsed.parameters.filename).toBe('\ufffdx\ufffd.txt');
  });

  it.each(['', '   ', '\r\n\t', '\u202E'])('an empty result falls back to "download" (%j)', (input) => {
    expect(cd(input).parsed.parameters.filename).toBe('download');
  });
});

describe('dispositionHeaders: fuzz', () => {
  // Deterministic PRNG so a failure is reproducible.
  let seed = 0x2f6b3a1d;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const pools = [
    [0x00, 0x1f], [0x20, 0x7e], [0x7f, 0xff], [0x4e00, 0x9fff], [0xd800, 0xdfff], [0x2000, 0x206f], [0x1f300, 0x1faff],
  ] as const;
  const randomName = () => {
    let s = '';
    for (let i = rand(40); i >= 0; i--) {
      const [lo, hi] = pools[rand(pools.length)]!;
      s += String.fromCodePoint(lo + rand(hi - lo + 1));
    }
    return s;
  };

  it('never throws, always yields valid header values, and round-trips', () => {
    for (let i = 0; i < 2000; i++) {
      const name = randomName();
      const mime = rand(2) === 0 ? 'text/html' : 'application/pdf';
      const { parsed } = cd(name, mime);
      expect(parsed.parameters.filename).toBe(sanitizeFilename(name));
    }
  });
});
