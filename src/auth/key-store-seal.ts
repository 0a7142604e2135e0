/**
 * Private signing keys at rest in a shared database: whoever reads the table must not be able
 * to sign. Each private JWK is sealed with AES-256-GCM under a key derived (HKDF-SHA256, fixed
 * salt and info) from AUTH_KEYS_SECRET, which every instance is given and the database never
 * holds. A fresh random 96-bit IV per seal; the kid is the additional authenticated data, so
 * a sealed key copied onto another key's row does not open.
 *
 * A seal that does not open means this instance was given another secret than the one that
 * sealed it (or the row was tampered with): a ConfigError naming AUTH_KEYS_SECRET, so the start
 * stops with one line and nothing is ever signed with a key that did not authenticate.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import { ConfigError } from '../config/config.js';

/** The format tag: a later change of algorithm or derivation gets a new one. */
const VERSION = 'v1';
const SALT = 'stream-line-upload-server';
const INFO = 'signing-keys/private-jwk/aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KeySealer {
  private readonly key: Buffer;

  constructor(secret: string) {
    if (secret.length === 0) throw new ConfigError('AUTH_KEYS_SECRET', 'is empty');
    this.key = Buffer.from(hkdfSync('sha256', secret, SALT, INFO, 32));
  }

  /** `v1.<iv>.<ciphertext>.<tag>`, base64url parts: text, for a TEXT column. */
  seal(kid: string, jwk: JWK): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(kid, 'utf8'));
    const body = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
    return [VERSION, iv, body, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  /** The JWK sealed for `kid`; ConfigError('AUTH_KEYS_SECRET') when it does not authenticate. */
  open(kid: string, sealed: string): JWK {
    const parts = sealed.split('.');
    const refused = () =>
      new ConfigError(
        'AUTH_KEYS_SECRET',
        `does not open the signing key ${kid} stored in the database (every instance must be given the secret that sealed it)`,
      );
    if (parts.length !== 4 || parts[0] !== VERSION) throw refused();
    const [iv, body, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
    if (iv!.length !== IV_BYTES || tag!.length !== TAG_BYTES) throw refused();
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv!, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(kid, 'utf8'));
    decipher.setAuthTag(tag!);
    let text: string;
    try {
      text = Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8');
    } catch {
      throw refused(); // the tag did not match: wrong secret, another kid's seal, or altered bytes
    }
    return JSON.parse(text) as JWK;
  }
}
