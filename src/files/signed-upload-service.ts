/**
 * Signed upload URLs: a backend mints a URL, whoever holds it sends the bytes of one file with
 * no other credential.
 *
 * Minting is an ordinary chunked init (UploadService.init): sizes, quota and the store's part
 * rules are checked and the size is reserved at once. The URL names that one upload and is
 * signed over its record (signed-upload-sign.ts), so it can only write parts of that upload
 * and complete it, under the name, folder and size chosen at minting. It can never read,
 * list, rename or overwrite: a completed file gets a fresh key, and once its upload is
 * complete (or aborted, or swept) the URL answers 403.
 *
 * The holder acts as the upload's owner with the write scope only, through UploadService's
 * public methods, so every rule of a part (size, checksums, the part-write fence, races with a
 * completion) is the one the Bearer routes apply.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import { SERVICE_PRINCIPAL } from '../auth/principal.js';
import type { FileRecord, PartRecord, UploadRecord } from '../db/types.js';
import { InvalidInput, NotAllowed, TooLarge, UploadNotFound } from '../errors/index.js';
import type { Clock } from '../util/clock.js';
import type { ExpectedDigests } from './checksums.js';
import { signedUploadUrl, verifyUpload } from './signed-upload-sign.js';
import type { UploadService } from './upload-service.js';

/** What an upload id looks like (contract/uploads.ts); anything else is looked up nowhere. */
const UPLOAD_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** A URL lives two hours unless asked otherwise (as Supabase's createSignedUploadUrl). */
export const DEFAULT_SIGNED_UPLOAD_SECONDS = 2 * 3600;

export interface SignedUploadOptions {
  /** UPLOAD_SIGNING_KEY. */
  signingKey: string;
  publicBaseUrl: string;
  /**
   * The longest lifetime a URL may ask for: SIGNED_URL_MAX_SECONDS, and never beyond the upload
   * expiry, so a URL cannot outlive an upload nobody touched (its reservation is swept then).
   */
  maxSeconds: number;
  clock: Clock;
}

export interface MintRequest {
  name: string;
  size: number;
  mime?: string;
  sha256?: string;
  folder?: string;
  expiresIn?: number;
}

export interface MintedUpload {
  url: string;
  upload: UploadRecord;
  /** Unix seconds. */
  exp: number;
}

/** The URL's own query: what was minted, as the holder sends it back. */
export interface UrlCredential {
  upload?: string;
  exp?: string;
  sig?: string;
}

/** The upload's owner, allowed to write and nothing else: what a URL holder acts as. */
const writerFor = (userId: string): Principal => ({ kind: 'user', userId, username: null, role: 'operator', scopes: ['files:write'] });

export class SignedUploadService {
  constructor(
    private readonly uploads: UploadService,
    private readonly opts: SignedUploadOptions,
  ) {}

  private seconds(): number {
    return Math.floor(this.opts.clock.now() / 1000);
  }

  /** Creates the upload (quota reserved) and the URL that may fill it. */
  async mint(userId: string, req: MintRequest): Promise<MintedUpload> {
    const max = this.opts.maxSeconds;
    const expiresIn = req.expiresIn ?? Math.min(DEFAULT_SIGNED_UPLOAD_SECONDS, max);
    if (expiresIn > max) throw new InvalidInput('expires_in_too_large', `body.expires_in: at most ${max} seconds`);
    const [upload] = await this.uploads.init(userId, {
      mode: 'chunked',
      files: [{ name: req.name, size: req.size, mime: req.mime, sha256: req.sha256 }],
      folder: req.folder,
    });
    const exp = this.seconds() + expiresIn;
    return { url: signedUploadUrl(this.opts.publicBaseUrl, this.opts.signingKey, upload!, exp), upload: upload!, exp };
  }

  /**
   * The upload a URL names (open, or being completed), or 403: a wrong or tampered signature first (whether the
   * upload exists is not told), then expiry, then an upload that is complete or gone.
   */
  async admit(cred: UrlCredential): Promise<UploadRecord> {
    const upload = cred.upload && UPLOAD_ID.test(cred.upload) ? await this.uploads.getOwned(SERVICE_PRINCIPAL, cred.upload).catch(notFoundAsNull) : null;
    // A missing upload is checked against a dummy record: the same work, the same answer.
    const verdict = verifyUpload(this.opts.signingKey, upload ?? MISSING, cred.exp, cred.sig, this.seconds());
    // No record (a tampered id, or an upload aborted or swept) leaves nothing to verify against.
    if (!upload || verdict === 'invalid') throw new NotAllowed('invalid_signature', 'Invalid signature');
    if (verdict === 'expired') throw new NotAllowed('url_expired', 'This upload URL has expired');
    if (upload.state === 'completed') throw new NotAllowed('upload_url_used', 'This upload URL has been used: its upload is complete');
    return upload;
  }

  /** GET and HEAD: a signed upload URL never reads, whatever it holds. */
  refuseRead(): never {
    throw new NotAllowed('upload_url_cannot_read', 'A signed upload URL cannot be used to read');
  }

  /** One part of the upload `admit` returned. */
  async putPart(upload: UploadRecord, partNumber: number, body: Readable, expect: ExpectedDigests & { contentLength?: number }): Promise<PartRecord> {
    return this.uploads.putPart(writerFor(upload.userId), upload.id, partNumber, body, expect);
  }

  /**
   * The whole file in one request: cut into the upload's parts as it streams (nothing held in
   * memory beyond a chunk), each part written as if sent alone, then completed. Digests sent
   * are the whole file's. Too long or too short: refused, the upload stays open for a retry.
   */
  async putWhole(upload: UploadRecord, body: Readable, expect: ExpectedDigests & { contentLength?: number }): Promise<{ file: FileRecord; created: boolean }> {
    if (expect.contentLength !== undefined && expect.contentLength > upload.size) {
      throw new TooLarge('payload_too_large', `This URL takes a file of exactly ${upload.size} bytes`);
    }
    // The sha256 bound at minting cannot be swapped for another by the holder.
    if (expect.sha256 && upload.sha256 && expect.sha256 !== upload.sha256) throw new InvalidInput('checksum_mismatch', 'X-Checksum-SHA256 does not match the SHA-256 this URL was minted for');
    const writer = writerFor(upload.userId);
    const md5 = expect.md5 !== undefined ? createHash('md5') : null;
    const source = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let carry: Buffer | null = null;
    for (let n = 1; n <= upload.partCount; n++) {
      let remaining = this.uploads.expectedPartSize(upload, n);
      const expected = remaining;
      // One part's bytes, pulled from the request as the store reads them; a short body ends it early.
      const segment = async function* (): AsyncGenerator<Buffer> {
        while (remaining > 0) {
          let chunk = carry;
          carry = null;
          if (!chunk) {
            const next = await source.next();
            if (next.done) return;
            chunk = next.value;
          }
          if (chunk.length > remaining) {
            carry = chunk.subarray(remaining);
            chunk = chunk.subarray(0, remaining);
          }
          remaining -= chunk.length;
          md5?.update(chunk);
          yield chunk;
        }
      };
      await this.uploads.putPart(writer, upload.id, n, Readable.from(segment(), { objectMode: false }), { contentLength: expected });
    }
    if ((carry !== null && (carry as Buffer).length > 0) || !(await source.next()).done) {
      throw new TooLarge('payload_too_large', `This URL takes a file of exactly ${upload.size} bytes`);
    }
    if (md5 && md5.digest('hex') !== expect.md5) throw new InvalidInput('checksum_mismatch', 'Content-MD5 does not match the file');
    return this.uploads.complete(writer, { uploadId: upload.id, sha256: expect.sha256 });
  }

  /** Joins the parts sent so far (the upload `admit` returned); the name and folder are the minted ones. */
  async complete(upload: UploadRecord): Promise<{ file: FileRecord; created: boolean }> {
    return this.uploads.complete(writerFor(upload.userId), { uploadId: upload.id });
  }

  /** The holder gives up: parts removed, reservation freed; the URL is spent. */
  async abort(upload: UploadRecord): Promise<string> {
    await this.uploads.abort(writerFor(upload.userId), upload.id);
    return upload.id;
  }
}

function notFoundAsNull(err: unknown): null {
  if (err instanceof UploadNotFound) return null;
  throw err;
}

/** Stands in for an upload that does not exist, so its URL costs the same HMAC as any other. */
const MISSING: UploadRecord = {
  id: '',
  userId: '',
  mode: 'chunked',
  filename: '',
  folder: '',
  size: 0,
  mime: '',
  sha256: null,
  partSize: 0,
  partCount: 0,
  state: 'open',
  fileKey: null,
  blobRef: '',
  leaseUntil: null,
  createdAt: 0,
  updatedAt: 0,
};
