/**
 * Name rules. A filename is any NFC-normalised, well-formed Unicode except control
 * characters, "/", "\" and the names "." and "..", at most 255 UTF-8 bytes. A folder is 1–32
 * such segments joined by "/". Nothing is rewritten silently: anything else is a 400.
 * A user id matches one pattern everywhere (tokens, routes, storage paths).
 * Browser-safe (zod only): the SDK checks names with the same rules the server applies.
 */
import { z } from 'zod';
import { MAX_MIME_LENGTH, normaliseMime } from './mime.js';

const CONTROL = /\p{Cc}/u;
const MAX_NAME_BYTES = 255;
const MAX_FOLDER_DEPTH = 32;
const utf8 = new TextEncoder();

/** Why `name` is not a valid file or folder name, or null when it is. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (!name.isWellFormed()) return 'must be well-formed Unicode';
  if (name !== name.normalize('NFC')) return 'must be NFC-normalised Unicode';
  if (CONTROL.test(name)) return 'must not contain control characters';
  if (name.includes('/') || name.includes('\\')) return 'must not contain "/" or "\\"';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no encoding to be counted.
  if (name.length * 3 > MAX_NAME_BYTES && utf8.encode(name).length > MAX_NAME_BYTES) return `must be at most ${MAX_NAME_BYTES} UTF-8 bytes`;
  return null;
}

/** Why `folder` is not a valid folder path, or null when it is. */
export function folderProblem(folder: string): string | null {
  const segments = folder.split('/');
  if (segments.length > MAX_FOLDER_DEPTH) return `must have at most ${MAX_FOLDER_DEPTH} segments`;
  for (const segment of segments) {
    const problem = nameProblem(segment);
    if (problem) return segment === '' ? 'must not have empty segments (no leading, trailing or double "/")' : `segment ${problem}`;
  }
  return null;
}

export const filenameSchema = z.string().superRefine((v, ctx) => {
  const problem = nameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const folderSchema = z.string().superRefine((v, ctx) => {
  const problem = folderProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * A MIME type as a client sends it, stored in its canonical form (see mime.ts): the
 * essence plus a valid charset. A type a browser could read as something else (a comma, a
 * second type, an unparseable form) is stored as application/octet-stream rather than
 * refused (docs/api.md); only what is not a header value at all (control characters,
 * non-ASCII, over 255 characters) is a 400, like any other malformed field.
 */
export const mimeSchema = z
  .string()
  .max(MAX_MIME_LENGTH)
  .regex(/^[\x20-\x7e]+$/, { message: 'must be a MIME type such as image/png (printable ASCII)' })
  .transform(normaliseMime);

export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export const userIdSchema = z
  .string()
  .regex(USER_ID_PATTERN, { message: 'must match [A-Za-z0-9][A-Za-z0-9._@-]{0,127}' });

export const isValidUserId = (value: unknown): value is string => userIdSchema.safeParse(value).success;
