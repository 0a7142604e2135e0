/** Shared name cases for the name-rule tests (unit and HTTP). */
/** Names that break the rules, with why. */
export const BAD_NAMES: [string, string][] = [
  ['', 'empty'],
  ['.', 'dot'],
  ['..', 'dot-dot'],
  ['../', 'parent with slash'],
  ['../etc', 'parent path'],
  ['/etc/passwd', 'absolute path'],
  ['a/b', 'slash'],
  ['a\\b', 'backslash'],
  ['..\\..\\win.ini', 'windows traversal'],
  ['a\u0000b', 'NUL'],
  ['a\nb', 'newline'],
  ['a\rb', 'carriage return'],
  ['tab\there', 'tab'],
  ['del\u007f', 'DEL'],
  ['c1\u0085', 'C1 control'],
  ['x'.repeat(256), '256 bytes'],
  ['é'.repeat(150), '300 UTF-8 bytes'],
  ['e\u0301.txt', 'NFD (not NFC)'],
  ['\ud800.txt', 'lone high surrogate'],
  ['a\udc00', 'lone low surrogate'],
];

/** Names that are fine, taken literally. */
export const GOOD_NAMES = [
  '報告書.pdf',
  '🎉 party time.png',
  'with spaces .txt',
  ' leading space',
  '..%2f',
  '%2e%2e',
  '...',
  '.hidden',
  'é.txt',
  'x'.repeat(255),
  '報'.repeat(84) + '.md', // exactly 255 UTF-8 bytes
];
