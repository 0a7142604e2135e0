/**
 * Records and assertions shared by the MetadataStore conformance suites.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { FileRecord, MetadataStore, RefreshTokenRow, UploadRecord } from '../../src/db/types.js';
import type { AppError } from '../../src/errors/index.js';

const hex = () => randomBytes(16).toString('hex');
let clock = Date.parse('2025-01-01T00:00:00.000Z');
export const tick = () => new Date((clock += 1000)).toISOString();

export function fileOf(userId: string, folder: string, size: number, createdAt = tick()): FileRecord {
  const id = hex();
  const filename = `f-${id.slice(0, 6)}.bin`;
  return { id, key: ['storage', userId, ...(folder ? [folder] : []), `${id}_${filename}`].join('/'), userId, folder, filename, size, mime: 'application/octet-stream', sha256: 'e'.repeat(64), createdAt };
}

export function uploadOf(userId: string, size: number, over: Partial<UploadRecord> = {}): UploadRecord {
  const now = Date.now();
  return { id: randomBytes(12).toString('base64url'), userId, mode: 'chunked', filename: 'u.bin', folder: '', size, mime: 'application/octet-stream', sha256: null, partSize: 5 << 20, partCount: Math.max(1, Math.ceil(size / (5 << 20))), state: 'open', fileKey: null, blobRef: '', leaseUntil: null, createdAt: now, updatedAt: now, ...over };
}

/** A refresh token row issued at 1000, expiring at 9000 (its access token at 1900). */
export function refreshTokenOf(jti: string, familyId: string, userId: string, accessJti: string): RefreshTokenRow {
  return { jti, familyId, userId, accessJti, issuedAt: 1000, expiresAt: 9000, accessExpiresAt: 1900 };
}

/** Asserts that `call` rejects with an error of class `type` carrying `code`. */
export async function expectFailure(call: Promise<unknown>, type: abstract new (...args: never[]) => AppError, code: string): Promise<void> {
  const err = await call.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  expect(err).toMatchObject({ code });
}

export interface StoreUnderTest {
  store: MetadataStore;
  cleanup(): Promise<void>;
  /** Where other connections reach the same database (needed with manyConnections). */
  databaseUrl?: string;
}
