/** Client-supplied digests: X-Checksum-SHA256 (hex or base64) and Content-MD5 (base64). */
import { InvalidInput } from '../errors/index.js';

function toHex(value: string, bytes: number, header: string): string {
  const v = value.trim();
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v)) return v.toLowerCase();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) {
    const decoded = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (decoded.length === bytes) return decoded.toString('hex');
  }
  throw new InvalidInput('invalid_checksum', `${header}: expected ${bytes * 8}-bit digest as hex or base64`);
}

export interface ExpectedDigests {
  sha256?: string;
  md5?: string;
}

export function expectedDigests(headers: Record<string, string | string[] | undefined>): ExpectedDigests {
  const sha = headers['x-checksum-sha256'];
  const md5 = headers['content-md5'];
  return {
    sha256: typeof sha === 'string' && sha !== '' ? toHex(sha, 32, 'X-Checksum-SHA256') : undefined,
    md5: typeof md5 === 'string' && md5 !== '' ? toHex(md5, 16, 'Content-MD5') : undefined,
  };
}
