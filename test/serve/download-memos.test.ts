// The per-download work remembered between requests (issue 18, small GETs): the normalised
// MIME type and the Content-Disposition value. Remembered answers must be exactly the computed
// ones, for every input that changes them, and the memos must stay bounded.
import createContentDisposition from 'content-disposition';
import { describe, expect, it } from 'vitest';
import { normaliseMime as contractNormalise } from '../../src/contract/mime.js';
import { MAX_MIME_LENGTH, MIME_MEMO_LIMIT, mimeMemoSize, normaliseMime } from '../../src/files/mime.js';
import { DISPOSITION_MEMO_LIMIT, dispositionHeaders, dispositionMemoSize, sanitizeFilename } from '../../src/serve/disposition.js';

const MIMES = [
  'application/octet-stream',
  'TEXT/PLAIN; Charset=UTF-8',
  'text/plain;,text/html',
  'text/html',
  'multipart/x-mixed-replace; boundary=x',
  'image/svg+xml',
  'image/png; foo=bar',
  'not a type',
  '',
  'text/plain; charset="bad charset"',
];

describe('normaliseMime, remembered', () => {
  it('answers what the contract computes, the first time and from the memo', () => {
    for (let round = 0; round < 2; round++) {
      for (const mime of MIMES) expect(normaliseMime(mime)).toBe(contractNormalise(mime));
    }
  });

  it('stays bounded, and keeps answering right after evicting', () => {
    for (let i = 0; i < MIME_MEMO_LIMIT + 50; i++) expect(normaliseMime(`image/x-n${i}`)).toBe(`image/x-n${i}`);
    expect(mimeMemoSize()).toBe(MIME_MEMO_LIMIT);
    expect(normaliseMime('TEXT/PLAIN; Charset=UTF-8')).toBe('text/plain; charset=utf-8');
    // Over-long input is refused by the contract and not remembered at all.
    const before = mimeMemoSize();
    const long = `text/plain; x=${'a'.repeat(MAX_MIME_LENGTH)}`;
    expect(normaliseMime(long)).toBe('application/octet-stream');
    expect(mimeMemoSize()).toBe(before);
  });
});

describe('dispositionHeaders, remembered', () => {
  const computed = (filename: string, type: 'inline' | 'attachment') => {
    const name = sanitizeFilename(filename);
    const fallback = [...name].map((ch) => (/^[\x20-\x7e]$/.test(ch) && !/["\\%]/.test(ch) ? ch : '_')).join('');
    return createContentDisposition(name, { type, fallback });
  };

  it('one filename gives inline or attachment by type and request, each time', () => {
    for (let round = 0; round < 2; round++) {
      expect(dispositionHeaders('photo.png', 'image/png', undefined)['Content-Disposition']).toBe(computed('photo.png', 'inline'));
      expect(dispositionHeaders('photo.png', 'image/png', 'attachment')['Content-Disposition']).toBe(computed('photo.png', 'attachment'));
      expect(dispositionHeaders('photo.png', 'text/html', 'inline')['Content-Disposition']).toBe(computed('photo.png', 'attachment'));
      expect(dispositionHeaders('naïve "x" 100%.pdf', 'application/pdf', undefined)['Content-Disposition']).toBe(
        computed('naïve "x" 100%.pdf', 'inline'),
      );
      expect(dispositionHeaders('evil\u202Etxt.exe', 'application/pdf', 'attachment')['Content-Disposition']).toBe(
        computed('evil\u202Etxt.exe', 'attachment'),
      );
    }
  });

  it('hands out a fresh object with the safety headers every time', () => {
    const a = dispositionHeaders('a.txt', 'text/plain', undefined);
    a['Content-Disposition'] = 'inline; filename="tampered.html"';
    delete a['X-Content-Type-Options'];
    const b = dispositionHeaders('a.txt', 'text/plain', undefined);
    expect(b['Content-Disposition']).toBe(computed('a.txt', 'inline'));
    expect(b['X-Content-Type-Options']).toBe('nosniff');
    expect(b['Content-Security-Policy']).toMatch(/^sandbox;/);
  });

  it('stays bounded, and keeps answering right after evicting', () => {
    for (let i = 0; i < DISPOSITION_MEMO_LIMIT + 50; i++) dispositionHeaders(`f${i}.bin`, 'application/octet-stream', undefined);
    expect(dispositionMemoSize()).toBe(DISPOSITION_MEMO_LIMIT);
    expect(dispositionHeaders('photo.png', 'image/png', undefined)['Content-Disposition']).toBe(computed('photo.png', 'inline'));
  });
});
