/**
 * Signed URLs, pure: `sig = hex(HMAC-SHA256(UPLOAD_SIGNING_KEY, key + "|" + exp))`.
 * The URL is `/get/{base64url(key)}?exp=<unix>&sig=<hex>`; standard base64 is accepted too.
 * The disposition is deliberately not signed (the formula existing clients use): it changes how, not what.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEX_SHA256 = /^[0-9a-f]{64}$/;
// Canonical decimal only: a leading zero or sign would be another string for the same time.
const EXP = /^(?:0|[1-9][0-9]{0,14})$/;
// base64url and standard base64 alphabets together, then at most two '=' of padding.
const B64 = /^[A-Za-z0-9_\-+/]+={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hmac(secret: string, key: string, exp: number): Buffer {
  return createHmac('sha256', secret).update(`${key}|${exp}`, 'utf8').digest();
}

/** The hex signature for `key` valid until `exp` (unix seconds). */
export function signKey(secret: string, key: string, exp: number): string {
  return hmac(secret, key, exp).toString('hex');
}

export type Verdict = 'ok' | 'invalid' | 'expired';

/**
 * Checks a signature exactly as issued: 64 lower-case hex digits (anything else, including
 * upper case, is simply a mismatch, never an exception) compared in constant time over the
 * two 32-byte digests. A valid signature past its `exp` is 'expired'.
 */
export function verifySignature(
  secret: string,
  key: string,
  expRaw: string | undefined,
  sig: string | undefined,
  nowSeconds: number,
): Verdict {
  if (expRaw === undefined || sig === undefined || !EXP.test(expRaw) || !HEX_SHA256.test(sig)) return 'invalid';
  const exp = Number(expRaw);
  const expected = hmac(secret, key, exp);
  if (!timingSafeEqual(Buffer.from(sig, 'hex'), expected)) return 'invalid';
  return exp < nowSeconds ? 'expired' : 'ok';
}

/** base64url without padding: the form we issue. */
export const encodeKeyToken = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

/**
 * The key named by a `/get/` path segment (already percent-decoded once by the router):
 * base64url or standard base64, padded or not. Returns null for anything that is not the
 * canonical encoding of well-formed UTF-8 without NUL.
 */
export function decodeKeyToken(raw: string): string | null {
  if (raw.length === 0 || raw.length > 16 * 1024 || !B64.test(raw)) return null;
  const unpadded = raw.replace(/=+$/, '');
  // Padding, when present, must be exactly what the length requires.
  if (unpadded.length !== raw.length && (unpadded.length + (raw.length - unpadded.length)) % 4 !== 0) return null;
  if (unpadded.length % 4 === 1) return null;
  const normalised = unpadded.replace(/\+/g, '-').replace(/\//g, '_');
  const bytes = Buffer.from(normalised, 'base64url');
  // Non-canonical input (stray low bits in the last character) does not round-trip.
  if (bytes.toString('base64url') !== normalised) return null;
  let key: string;
  try {
    key = utf8.decode(bytes);
  } catch {
    return null;
  }
  return key.includes('\0') ? null : key;
}

/** The `/get/...` URL for `key`, as handed to clients. */
export function signedUrl(
  baseUrl: string,
  secret: string,
  key: string,
  exp: number,
  disposition?: 'inline' | 'attachment',
): string {
  const sig = signKey(secret, key, exp);
  const extra = disposition === 'attachment' ? '&disposition=attachment' : '';
  return `${baseUrl}/get/${encodeKeyToken(key)}?exp=${exp}&sig=${sig}${extra}`;
}
