/**
 * The rows both SQL engines store (the same columns on SQLite and PostgreSQL) and their
 * mapping to the port's records: one place, so the engines cannot drift in what they read.
 */
import type { PendingMove } from './folder-types.js';
import type { BatchRecord, FileRecord, PartRecord, Role, UploadRecord, UploadState, UserRecord } from './types.js';

export interface UserRow {
  id: string;
  username: string;
  email: string | null;
  password_hash: string;
  role: string;
  is_active: number;
  quota_bytes: number | null;
  created_at: string;
}

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  email: r.email,
  passwordHash: r.password_hash,
  role: r.role as Role,
  isActive: r.is_active === 1,
  quotaBytes: r.quota_bytes,
  createdAt: r.created_at,
});

export interface FileRow {
  id: string;
  key: string;
  user_id: string;
  folder: string;
  filename: string;
  size: number;
  mime: string;
  sha256: string;
  created_at: string;
}

export const toFile = (r: FileRow): FileRecord => ({
  id: r.id,
  key: r.key,
  userId: r.user_id,
  folder: r.folder,
  filename: r.filename,
  size: r.size,
  mime: r.mime,
  sha256: r.sha256,
  createdAt: r.created_at,
});

export interface UploadRow {
  id: string;
  user_id: string;
  mode: string;
  filename: string;
  folder: string;
  size: number;
  mime: string;
  sha256: string | null;
  part_size: number;
  part_count: number;
  state: string;
  file_key: string | null;
  blob_ref: string;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

export const toUpload = (r: UploadRow): UploadRecord => ({
  id: r.id,
  userId: r.user_id,
  mode: r.mode as UploadRecord['mode'],
  filename: r.filename,
  folder: r.folder,
  size: r.size,
  mime: r.mime,
  sha256: r.sha256,
  partSize: r.part_size,
  partCount: r.part_count,
  state: r.state as UploadState,
  fileKey: r.file_key,
  blobRef: r.blob_ref,
  leaseUntil: r.lease_until,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface PartRow {
  part_number: number;
  size: number;
  sha256: string;
  ref: string;
}

export const toPart = (r: PartRow): PartRecord => ({ partNumber: r.part_number, size: r.size, sha256: r.sha256, ref: r.ref });

const ID_LENGTH = 32;
/** A journaled move (file_moves), as both engines return it (PostgreSQL's BIGINT as a string). */
export interface MoveRow {
  file_id: string;
  user_id: string;
  from_key: string;
  to_key: string;
  created_at: number | string;
}

export const toMove = (r: MoveRow): PendingMove => ({ fileId: r.file_id, userId: r.user_id, fromKey: r.from_key, toKey: r.to_key, createdAt: Number(r.created_at) });

export const FILE_ID = /^[0-9a-f]{32}$/;

export interface BatchRow {
  token_hash: string;
  user_id: string | null;
  name: string;
  compression: string;
  file_ids: string;
  file_count: number;
  total_size: number;
  created_at: number;
  expires_at: number;
}

function splitIds(packed: string): string[] {
  const ids: string[] = [];
  for (let i = 0; i + ID_LENGTH <= packed.length; i += ID_LENGTH) ids.push(packed.slice(i, i + ID_LENGTH));
  return ids;
}

export const toBatch = (r: BatchRow): BatchRecord => ({
  tokenHash: r.token_hash,
  userId: r.user_id,
  name: r.name,
  compression: r.compression === 'deflate' ? 'deflate' : 'store',
  fileIds: splitIds(r.file_ids),
  fileCount: r.file_count,
  totalSize: r.total_size,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

/** A refresh token with its family's revocation and user (as the rotation reads it). */
export interface RefreshRow {
  jti: string;
  family_id: string;
  access_jti: string;
  used_at: number | null;
  replaced_by: string | null;
  issued_at: number | null;
  expires_at: number;
  access_expires_at: number | null;
  revoked_at: number | null;
  user_id: string;
}
