/**
 * Signed upload URLs, pure: the HMAC that binds a URL to one upload.
 *
 * The URL carries only `upload`, `exp` and `sig`; everything else it is bound to (user, name,
 * folder, size, part size, MIME type, declared SHA-256) is read from the upload's record and
 * signed with it, so the URL stays short and a change to any of them breaks the signature.
 *
 * Same secret as `/get` (UPLOAD_SIGNING_KEY), but through a derived key: a `/get` signature
 * (`key|exp`) and an upload signature can never be swapped for one another, whatever a key or
 * a filename holds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { UploadRecord } from '../db/types.js';

/** What a signed upload URL is bound to: the record's fields, frozen at minting. */
export type SignedUploadFields = Pick<UploadRecord, 'id' | 'userId' | 'folder' | 'filename' | 'size' | 'partSize' | 'mime' | 'sha256'>;

const HEX_SHA256 = /^[0-9a-f]{64}$/;
// Canonical decimal only, as for /get: another spelling of the same time is another string.
const EXP = /^(?:0|[1-9][0-9]{0,14})$/;
const DOMAIN = 'stream-line signed upload v1';

const derivedKey = (secret: string): Buffer => createHmac('sha256', secret).update(DOMAIN, 'utf8').digest();

function mac(secret: string, f: SignedUploadFields, exp: number): Buffer {
  // A JSON array: no separator inside a filename or folder can shift one field into the next.
  const message = JSON.stringify([f.id, f.userId, f.folder, f.filename, f.size, f.partSize, f.mime, f.sha256 ?? '', exp]);
  return createHmac('sha256', derivedKey(secret)).update(message, 'utf8').digest();
}

/** The hex signature of an upload URL valid until `exp` (unix seconds). */
export function signUpload(secret: string, fields: SignedUploadFields, exp: number): string {
  return mac(secret, fields, exp).toString('hex');
}

export type UploadVerdict = 'ok' | 'invalid' | 'expired';

/**
 * Checks a signature exactly as issued (64 lower-case hex digits; anything else is a mismatch,
 * never an exception), in constant time over the two digests. Valid but past `exp`: 'expired'.
 */
export function verifyUpload(secret: string, fields: SignedUploadFields, expRaw: string | undefined, sig: string | undefined, nowSeconds: number): UploadVerdict {
  if (expRaw === undefined || sig === undefined || !EXP.test(expRaw) || !HEX_SHA256.test(sig)) return 'invalid';
  const exp = Number(expRaw);
  if (!timingSafeEqual(Buffer.from(sig, 'hex'), mac(secret, fields, exp))) return 'invalid';
  return exp < nowSeconds ? 'expired' : 'ok';
}

/** The path every signed upload URL shares; the query names the upload. */
export const SIGNED_UPLOAD_PATH = '/v1/upload/signed';

/** The absolute URL handed to the holder: `{base}/v1/upload/signed?upload=…&exp=…&sig=…`. */
export function signedUploadUrl(baseUrl: string, secret: string, fields: SignedUploadFields, exp: number): string {
  return `${baseUrl}${SIGNED_UPLOAD_PATH}?upload=${encodeURIComponent(fields.id)}&exp=${exp}&sig=${signUpload(secret, fields, exp)}`;
}
