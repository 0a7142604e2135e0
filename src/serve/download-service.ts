/**
 * Who may read which file, and how the answer may be cached: `/storage/...` (public, or the
 * owner's, an admin's or a service's), `/get/...` (signed URLs) and the signed-URL issuer.
 * Free of HTTP: it returns the record and the caching policy, and the route streams it
 * (serveFile). The order of the checks is part of the API: a key is parsed (400) before a
 * signature is checked (403), and a signature before the record is looked up (404), so a
 * bad signature never tells whether a key exists.
 */
import type { Principal } from '../auth/principal.js';
import type { FileRecord } from '../db/types.js';
import { InvalidInput, NotAllowed, NotAuthenticated, FileNotFound } from '../errors/index.js';
import { mayAccess, type FileService } from '../files/file-service.js';
import { parseKey } from '../files/keys.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { DispositionType } from './disposition.js';
import { decodeKeyToken, signedUrl, verifySignature } from './signed-urls.js';

export interface DownloadOptions {
  /** UPLOAD_SIGNING_KEY: the HMAC secret of signed URLs. */
  signingKey: string;
  publicBaseUrl: string;
  /** PUBLIC_STORAGE: `/storage/...` needs no credentials (and may be cached by anyone). */
  publicStorage: boolean;
  publicCacheControl: string;
  signedUrlMaxSeconds: number;
  /** Tests pass a ManualClock instead of waiting for URLs to expire. */
  clock?: Clock;
}

/** What a route needs to answer: the record, and the caching headers of every answer about it. */
export interface Download {
  file: FileRecord;
  cacheControl: string;
  /** Sent with the file and with a 304 (never with an error). */
  extraHeaders?: Record<string, string>;
}

export interface SignedUrl {
  url: string;
  /** Unix seconds. */
  exp: number;
}

/** A signed URL's answer may be cached until it expires, and never for more than a day. */
const MAX_SIGNED_AGE_SECONDS = 86_400;
export const DEFAULT_SIGNED_URL_SECONDS = 3600;

export class DownloadService {
  private readonly clock: Clock;

  constructor(
    private readonly files: Pick<FileService, 'getByKey' | 'getVisible'>,
    private readonly opts: DownloadOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Signed URLs speak unix seconds. */
  private seconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /**
   * `/storage/{key}`. `principal` is null only for public storage; otherwise someone who may
   * not see the owner's files gets the same 404 as for a missing key (existence does not leak).
   */
  async openStorage(principal: Principal | null, key: string): Promise<Download> {
    // A route that forgot to authenticate must not turn private storage public.
    if (principal === null && !this.opts.publicStorage) throw new NotAuthenticated();
    const owner = parseKey(key).userId;
    const file = principal && !mayAccess(principal, owner) ? null : await this.files.getByKey(key);
    if (!file) throw new FileNotFound();
    return { file, cacheControl: this.opts.publicStorage ? this.opts.publicCacheControl : 'private, no-cache' };
  }

  /** `/get/{encodedKey}?exp&sig`: the signature is the credential. */
  async openSigned(encodedKey: string, exp: string | undefined, sig: string | undefined): Promise<Download> {
    const key = decodeKeyToken(encodedKey);
    if (key === null) throw new InvalidInput('invalid_key', 'The key in a signed URL must be base64url');
    parseKey(key);
    const now = this.seconds();
    const verdict = verifySignature(this.opts.signingKey, key, exp, sig, now);
    if (verdict === 'expired') throw new NotAllowed('url_expired', 'This signed URL has expired');
    if (verdict !== 'ok') throw new NotAllowed('invalid_signature', 'Invalid signature');
    const file = await this.files.getByKey(key);
    if (!file) throw new FileNotFound();
    const maxAge = Math.max(0, Math.min(Number(exp) - now, MAX_SIGNED_AGE_SECONDS));
    // The URL carries a credential: no Referer may take it to another site.
    return { file, cacheControl: `private, max-age=${maxAge}`, extraHeaders: { 'Referrer-Policy': 'no-referrer' } };
  }

  /** A `/get/...` URL for a file `principal` may see, valid `expiresIn` seconds from now. */
  async signUrl(principal: Principal, key: string, opts: { expiresIn?: number; disposition?: DispositionType } = {}): Promise<SignedUrl> {
    const expiresIn = opts.expiresIn ?? DEFAULT_SIGNED_URL_SECONDS;
    const max = this.opts.signedUrlMaxSeconds;
    if (expiresIn > max) throw new InvalidInput('expires_in_too_large', `query.expires_in: at most ${max} seconds`);
    const file = await this.files.getVisible(principal, key);
    const exp = this.seconds() + expiresIn;
    return { url: signedUrl(this.opts.publicBaseUrl, this.opts.signingKey, file.key, exp, opts.disposition), exp };
  }
}
